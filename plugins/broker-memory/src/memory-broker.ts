import {
  ErrorCodes,
  OpspawnError,
  type Broker,
  type Delivery,
  type DeliveryHandler,
  type EnqueueOptions,
  type QueueDepth,
  type HealthCheckResult,
  type Logger,
} from '@opspawn/plugin-sdk';

export interface MemoryBrokerOptions {
  /** First redelivery delay after a handler rejects; doubles each time. */
  redeliveryBackoffMs: number;
  /** Redeliveries of one job before it is dropped (logged as an error). */
  maxRedeliveries: number;
}

/** The configSchema's defaults, for code that builds a broker without the kernel. */
export const MEMORY_BROKER_DEFAULTS: MemoryBrokerOptions = { redeliveryBackoffMs: 100, maxRedeliveries: 10 };

/** Upper bound of one redelivery delay. */
const MAX_REDELIVERY_BACKOFF_MS = 30_000;
/**
 * Longest delay one timer may have: Node runs a longer one after 1 ms (with a TimeoutOverflowWarning). A job due
 * later, e.g. a task with `notBefore` in 9999, is watched by a timer of this length re-armed until it is due.
 */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
interface Job {
  taskId: string;
  priority: number;
  /** Enqueue order: FIFO within a priority. */
  order: number;
  readyAt: number;
  redeliveries: number;
  /** What `enqueue` was told of the task, handed back in the delivery so a worker can start it without a read. */
  attempts?: number;
  notBefore?: string | null;
}

/** A binary heap ordered by `before`. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  values(): readonly T[] {
    return this.items;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }
  /** Removes every item `matches` accepts; returns how many it removed. */
  removeWhere(matches: (item: T) => boolean): number {
    const kept = this.items.filter((item) => !matches(item));
    const removed = this.items.length - kept.length;
    if (removed > 0) {
      this.items.length = 0;
      for (const item of kept) this.push(item);
    }
    return removed;
  }
  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The embedded default broker: an in-process queue. Ready jobs are delivered highest priority first (FIFO within
 * a priority); delayed jobs wait in a second heap watched by one timer for the earliest. A handler that rejects
 * gets the job again after a backoff (at-least-once). Nothing survives the process: the task engine re-queues
 * unfinished tasks from the store at start (`recoversOnStart`).
 */
export class MemoryBroker implements Broker {
  /** The store is the only durable state, so the kernel re-enqueues unfinished tasks when this broker starts. */
  readonly recoversOnStart = true;
  private readonly ready = new Heap<Job>(
    (a, b) => a.priority > b.priority || (a.priority === b.priority && a.order < b.order),
  );
  private readonly delayed = new Heap<Job>((a, b) => a.readyAt < b.readyAt);
  /** Running deliveries by task id; a task enqueued twice may run twice at once (at-least-once). */
  private readonly running = new Map<string, Set<AbortController>>();
  private handler?: DeliveryHandler;
  private concurrency = 0;
  private active = 0;
  private order = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  private readonly options: MemoryBrokerOptions;

  constructor(
    options: Partial<MemoryBrokerOptions> = {},
    private readonly logger?: Logger,
  ) {
    this.options = { ...MEMORY_BROKER_DEFAULTS, ...options };
  }

  async enqueue(taskId: string, options: EnqueueOptions): Promise<void> {
    const delay = Math.max(0, options.delayMs ?? 0);
    const job: Job = {
      taskId,
      priority: options.priority,
      order: this.order++,
      readyAt: Date.now() + delay,
      redeliveries: 0,
    };
    if (options.attempts !== undefined) job.attempts = options.attempts;
    if (options.notBefore !== undefined) job.notBefore = options.notBefore;
    this.add(job);
  }

  async consume(handler: DeliveryHandler, options: { concurrency: number }): Promise<void> {
    this.handler = handler;
    this.concurrency = Math.max(1, options.concurrency);
    this.draining = false;
    this.pump();
  }

  /** Aborts the task's running deliveries and drops its jobs still waiting here, delayed or ready. */
  async cancel(taskId: string): Promise<void> {
    this.ready.removeWhere((job) => job.taskId === taskId);
    if (this.delayed.removeWhere((job) => job.taskId === taskId) > 0) this.rearmTimer();
    const reason = new OpspawnError(ErrorCodes.TASK_CANCELLED, `task ${taskId} was cancelled`);
    for (const controller of this.running.get(taskId) ?? []) controller.abort(reason);
  }

  /**
   * Stops delivering (waiting jobs stay queued; `consume` starts again), waits up to `timeoutMs` for running
   * deliveries, then aborts their signals and gives their handlers a moment to wind down.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    clearTimeout(this.timer);
    this.timerAt = Infinity;
    if (await this.idleWithin(timeoutMs)) return;
    const reason = new OpspawnError(
      ErrorCodes.TASK_STALLED,
      `the broker is draining and ${this.active} delivery(ies) did not finish within ${timeoutMs} ms`,
    );
    // Their handlers hand the tasks back; the task engine waits for that within its stop timeout, not the broker.
    for (const controllers of this.running.values()) for (const controller of controllers) controller.abort(reason);
  }

  /** Waiting jobs per priority, counted over both heaps (a scrape's cost, not a task's). */
  async depth(): Promise<QueueDepth[]> {
    const by = new Map<number, QueueDepth>();
    const count = (jobs: readonly Job[], key: 'ready' | 'delayed') => {
      for (const job of jobs) {
        const d = by.get(job.priority) ?? { priority: job.priority, ready: 0, delayed: 0 };
        d[key]++;
        by.set(job.priority, d);
      }
    };
    count(this.ready.values(), 'ready');
    count(this.delayed.values(), 'delayed');
    return [...by.values()].sort((a, b) => b.priority - a.priority);
  }

  health(): HealthCheckResult {
    return { state: 'ok', detail: `${this.ready.size + this.delayed.size} waiting, ${this.active} running` };
  }

  /** True once no delivery runs, false if `ms` pass first. */
  private async idleWithin(ms: number): Promise<boolean> {
    if (this.active === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private add(job: Job): void {
    if (job.readyAt <= Date.now()) this.ready.push(job);
    else this.delayed.push(job);
    this.pump();
  }

  private pump(): void {
    if (!this.handler || this.draining) return;
    const now = Date.now();
    while (this.delayed.size > 0 && this.delayed.peek()!.readyAt <= now) this.ready.push(this.delayed.pop()!);
    while (this.active < this.concurrency && this.ready.size > 0) this.deliver(this.ready.pop()!);
    this.armTimer();
  }

  /** One timer watches the earliest delayed job; it fires when that job is due, or sooner to be armed again. */
  private armTimer(): void {
    const next = this.delayed.peek();
    if (!next || next.readyAt >= this.timerAt) return;
    clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, next.readyAt - Date.now()), MAX_TIMER_DELAY_MS);
    this.timerAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      this.pump();
    }, delay);
    this.timer.unref();
  }

  /** After the earliest delayed job left early (cancelled): watch the new earliest, if any. */
  private rearmTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.draining) this.armTimer();
  }

  private deliver(job: Job): void {
    this.active++;
    const controller = new AbortController();
    let controllers = this.running.get(job.taskId);
    if (!controllers) {
      controllers = new Set();
      this.running.set(job.taskId, controllers);
    }
    controllers.add(controller);
    const delivery: Delivery = { taskId: job.taskId, signal: controller.signal };
    // The job as enqueued: the engine starts a due first delivery by compare-and-set, without reading the task.
    if (job.attempts !== undefined) delivery.attempts = job.attempts;
    if (job.notBefore !== undefined) delivery.notBefore = job.notBefore;
    void this.handle(job, delivery, controllers, controller);
  }

  /** Runs the handler on a later microtask (never inside `enqueue`), then frees the slot and delivers the next job. */
  private async handle(
    job: Job,
    delivery: Delivery,
    controllers: Set<AbortController>,
    controller: AbortController,
  ): Promise<void> {
    try {
      await undefined;
      await this.handler!(delivery);
    } catch (error) {
      this.redeliver(job, error);
    } finally {
      controllers.delete(controller);
      if (controllers.size === 0 && this.running.get(job.taskId) === controllers) this.running.delete(job.taskId);
      this.active--;
      if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      this.pump();
    }
  }

  private redeliver(job: Job, error: unknown): void {
    if (job.redeliveries >= this.options.maxRedeliveries) {
      this.logger?.error(
        { taskId: job.taskId, err: error },
        `dropping task ${job.taskId} after ${job.redeliveries} redeliveries`,
      );
      return;
    }
    const delay = Math.min(this.options.redeliveryBackoffMs * 2 ** job.redeliveries, MAX_REDELIVERY_BACKOFF_MS);
    this.logger?.warn({ taskId: job.taskId, err: error, delayMs: delay }, 'delivery failed; delivering again');
    this.add({ ...job, redeliveries: job.redeliveries + 1, order: this.order++, readyAt: Date.now() + delay });
  }
}
