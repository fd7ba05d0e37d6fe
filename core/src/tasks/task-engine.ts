import {
  ErrorCodes,
  OpspawnError,
  describeError,
  isFinalStatus,
  isOpspawnError,
  newTaskId,
  type Broker,
  type Delivery,
  type EventBus,
  type Logger,
  type Memory,
  type Planner,
  type Provided,
  type SubmitTaskRequest,
  type Task,
  type TaskEngineConfig,
  type TaskEvent,
  type TaskPage,
  type TaskQuery,
  type TaskService,
  type TaskStore,
  type ToolRegistry,
  type WatchOptions,
} from '@opspawn/plugin-sdk';
import { hostname } from 'node:os';
import { runAgentLoop } from './agent-loop.js';
import { checkSubmitRequest, requestHash } from './submit-validation.js';
import { TaskEvents, isFinalEvent } from './task-events.js';

export interface TaskEngineDeps {
  store: TaskStore;
  broker: Broker;
  planners: Provided<Planner>[];
  memories: Provided<Memory>[];
  tools: ToolRegistry;
  bus: EventBus;
  logger: Logger;
  settings: Required<TaskEngineConfig>;
  defaultPlanner?: string;
  defaultMemory?: string;
  stopTimeoutMs: number;
  /** false in an API-only process: it submits and serves tasks, other processes run them. */
  consume: boolean;
}

/** Errors that another attempt cannot fix. */
const PERMANENT = new Set<string>([
  ErrorCodes.TASK_INVALID,
  ErrorCodes.PLANNER_UNKNOWN,
  ErrorCodes.MEMORY_UNKNOWN,
  ErrorCodes.TASK_MAX_STEPS,
]);
const REPLAY_PAGE = 500;
/** A watcher re-reads the store this often, in case an event was published in another process. */
const WATCH_POLL_MS = 2000;
/** A delivery this early (clocks of two machines disagree) waits it out instead of going back to the queue. */
const EARLY_DELIVERY_TOLERANCE_MS = 5000;
/** Named in each `running` event, so a task's history says which process ran each attempt. */
const WORKER_ID = `${hostname()}:${process.pid}`;

/**
 * The task service and the worker of this process. Status lives in the store; every change is a
 * compare-and-set transition, so with at-least-once delivery a task still reaches exactly one final state.
 */
export class TaskEngine implements TaskService {
  private readonly eventLog: TaskEvents;
  private readonly planners: Map<string, Planner>;
  private readonly memories: Map<string, Memory>;
  private readonly log: Logger;
  private reconcileTimer?: NodeJS.Timeout;
  private stopping = false;
  private reconciling?: Promise<void>;

  constructor(private readonly deps: TaskEngineDeps) {
    this.eventLog = new TaskEvents(deps.store, deps.bus);
    this.planners = new Map(deps.planners.map((p) => [p.plugin, p.value]));
    this.memories = new Map(deps.memories.map((m) => [m.plugin, m.value]));
    this.log = deps.logger;
  }

  /**
   * Starts consuming; re-queues unfinished tasks first when the broker keeps no state of its own. With a durable
   * broker, starts the periodic sweep that hands back work the broker lost.
   */
  async start(): Promise<void> {
    const { broker, settings } = this.deps;
    if (!this.deps.consume) {
      if (broker.recoversOnStart)
        this.log.warn(
          'this api process has an in-process broker: tasks submitted here wait for a worker of this process, and there is none; use a broker that spans processes (broker-bee-queue)',
        );
      return;
    }
    if (broker.recoversOnStart && settings.recoverOnStart) await this.recover();
    await broker.consume((delivery) => this.run(delivery), { concurrency: settings.concurrency });
    if (!broker.recoversOnStart) this.scheduleReconcile();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconcileTimer);
    await this.reconciling;
    await this.deps.broker.drain(this.deps.stopTimeoutMs);
  }

  // ---- TaskService ------------------------------------------------------------------------------

  async submit(request: SubmitTaskRequest): Promise<{ task: Task; created: boolean }> {
    checkSubmitRequest(request);
    const { settings } = this.deps;
    const planner = request.planner ?? this.deps.defaultPlanner;
    const memory = request.memory ?? this.deps.defaultMemory;
    if (!planner || !this.planners.has(planner)) {
      throw new OpspawnError(
        ErrorCodes.PLANNER_UNKNOWN,
        planner ? `no planner '${planner}' in this deployment` : 'no planner given and the deployment has no default',
        {
          hint: `use one of: ${[...this.planners.keys()].join(', ') || '(none enabled)'}`,
          details: [{ path: 'planner', message: 'unknown planner' }],
        },
      );
    }
    if (!memory || !this.memories.has(memory)) {
      throw new OpspawnError(
        ErrorCodes.MEMORY_UNKNOWN,
        memory ? `no memory '${memory}' in this deployment` : 'no memory given and the deployment has no default',
        {
          hint: `use one of: ${[...this.memories.keys()].join(', ') || '(none enabled)'}`,
          details: [{ path: 'memory', message: 'unknown memory' }],
        },
      );
    }
    this.planners.get(planner)!.validateInput?.(request.input ?? null);
    const now = new Date().toISOString();
    const id = newTaskId();
    // Only an idempotency key needs the request's hash (to tell a replay from a conflicting reuse).
    const hash = request.idempotencyKey ? requestHash(request) : undefined;
    const task: Task = {
      id,
      goal: request.goal,
      input: request.input ?? null,
      planner,
      memory,
      sessionId: request.sessionId ?? id,
      status: 'queued',
      attempts: 0,
      maxAttempts: request.maxAttempts ?? settings.defaultMaxAttempts,
      timeoutMs: request.timeoutMs ?? settings.defaultTimeoutMs,
      maxSteps: request.maxSteps ?? settings.defaultMaxSteps,
      priority: request.priority ?? 0,
      labels: request.labels ?? {},
      cancelRequested: false,
      createdAt: now,
      updatedAt: now,
      ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey, requestHash: hash! } : {}),
      ...(request.notBefore ? { notBefore: new Date(request.notBefore).toISOString() } : {}),
    };
    const result = await this.eventLog.create(task);
    if (!result.created) {
      if (result.task.requestHash !== hash) {
        throw new OpspawnError(
          ErrorCodes.IDEMPOTENCY_CONFLICT,
          `idempotency key '${request.idempotencyKey}' was used for a different request (task ${result.task.id})`,
          {
            hint: 'use a new key for a new request',
            details: [{ path: 'idempotencyKey', message: 'already used with another request' }],
          },
        );
      }
      return result;
    }
    try {
      await this.enqueue(task);
    } catch (error) {
      // The task is in the store, so it is accepted: the workers' sweep enqueues it once the broker is back.
      this.log.warn(
        { taskId: id, err: describeError(error) },
        'the broker refused a new task; it stays queued in the store and the recovery sweep will enqueue it',
      );
    }
    return result;
  }

  async get(id: string): Promise<Task> {
    const task = await this.deps.store.get(id);
    if (!task)
      throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task ${id}`, {
        hint: 'check the id; list tasks to find it',
      });
    return task;
  }

  list(query: TaskQuery = {}): Promise<TaskPage> {
    return this.deps.store.list(query);
  }

  async cancel(id: string): Promise<Task> {
    const task = await this.get(id);
    if (isFinalStatus(task.status)) {
      throw new OpspawnError(ErrorCodes.TASK_NOT_CANCELLABLE, `task ${id} is already ${task.status}`, {
        hint: 'only queued or running tasks can be cancelled',
      });
    }
    const error = { code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' };
    const cancelled = await this.eventLog.move(
      id,
      ['queued'],
      { status: 'cancelled', error, finishedAt: new Date().toISOString() },
      undefined,
      { attempt: task.attempts, error },
    );
    if (cancelled) return cancelled;
    const running = await this.deps.store.requestCancel(id);
    if (!running) return this.get(id);
    await this.deps.broker.cancel(id);
    return running;
  }

  async events(id: string, afterSeq = 0, limit = REPLAY_PAGE): Promise<TaskEvent[]> {
    await this.get(id);
    return this.deps.store.events(id, afterSeq, limit);
  }

  async *watch(id: string, options: WatchOptions = {}): AsyncIterable<TaskEvent> {
    await this.get(id);
    const { signal } = options;
    let last = options.afterSeq ?? 0;
    const live: TaskEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.deps.bus.subscribe(id, (event) => {
      live.push(event);
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      // Replay what the store has after `last`, then follow live events; go back to the store whenever a gap
      // shows (an event published before we subscribed) or nothing arrived for a while (another process).
      let fromStore = true;
      while (!signal?.aborted) {
        if (fromStore) {
          for (;;) {
            const batch = await this.deps.store.events(id, last, REPLAY_PAGE);
            for (const event of batch) {
              last = event.seq;
              yield event;
              if (isFinalEvent(event)) return;
            }
            if (batch.length < REPLAY_PAGE) break;
          }
          fromStore = false;
        }
        while (live.length > 0 && !signal?.aborted) {
          const event = live.shift()!;
          if (event.seq <= last) continue;
          if (event.seq > last + 1) {
            live.unshift(event);
            fromStore = true;
            break;
          }
          last = event.seq;
          yield event;
          if (isFinalEvent(event)) return;
        }
        if (fromStore || signal?.aborted) continue;
        fromStore = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), WATCH_POLL_MS);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // ---- worker -----------------------------------------------------------------------------------

  /** Handles one delivery. Resolves unless the infrastructure failed; what a task does never escapes. */
  private async run(delivery: Delivery): Promise<void> {
    const { store } = this.deps;
    const task = await store.get(delivery.taskId);
    if (task?.status === 'running' && delivery.stalls) return this.takeOverStalled(task, delivery);
    if (task?.status !== 'queued') return; // finished, taken by another worker, or unknown
    const wait = delayUntil(task.notBefore);
    if (wait > EARLY_DELIVERY_TOLERANCE_MS) {
      // Without `attempts`: the job carrying (task, attempts) is this very delivery, still held.
      await this.deps.broker.enqueue(task.id, { priority: task.priority, delayMs: wait });
      return;
    }
    if (wait > 0) {
      await abortableSleep(wait, delivery.signal);
      // Shut down while waiting: the task never started. A durable broker gets the delivery back as failed and
      // redelivers it; an in-process one re-queues the task at the next start.
      if (delivery.signal.aborted) {
        if (this.deps.broker.recoversOnStart) return;
        throw new Error(`task ${task.id} was not due yet when this worker shut down`);
      }
    }
    if (task.cancelRequested) {
      const error = { code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' };
      await this.eventLog.move(
        task.id,
        ['queued'],
        { status: 'cancelled', error, finishedAt: new Date().toISOString() },
        task.attempts,
        { attempt: task.attempts, error },
      );
      return;
    }
    const attempt = task.attempts + 1;
    const running = await this.eventLog.move(
      task.id,
      ['queued'],
      { status: 'running', attempts: attempt, startedAt: new Date().toISOString(), finishedAt: null },
      task.attempts,
      { attempt, worker: WORKER_ID },
    );
    if (!running) return;

    const controller = new AbortController();
    // Built only when the deadline passes: an Error captures a stack, which the hot path should not pay for.
    const timer = setTimeout(
      () =>
        controller.abort(
          new OpspawnError(
            ErrorCodes.TASK_TIMEOUT,
            `attempt ${attempt} did not finish within ${running.timeoutMs} ms`,
            { hint: 'raise timeoutMs for the task' },
          ),
        ),
      running.timeoutMs,
    );
    const forward = () => controller.abort(delivery.signal.reason);
    delivery.signal.addEventListener('abort', forward, { once: true });
    try {
      const planner = this.planners.get(running.planner);
      const memory = this.memories.get(running.memory);
      if (!planner)
        throw new OpspawnError(
          ErrorCodes.PLANNER_UNKNOWN,
          `planner '${running.planner}' is not in this deployment any more`,
        );
      if (!memory)
        throw new OpspawnError(
          ErrorCodes.MEMORY_UNKNOWN,
          `memory '${running.memory}' is not in this deployment any more`,
        );
      const output = await runAgentLoop(running, attempt, controller.signal, {
        planner,
        memory,
        tools: this.deps.tools,
        events: this.eventLog,
      });
      await this.eventLog.move(
        task.id,
        ['running'],
        { status: 'succeeded', output, error: null, finishedAt: new Date().toISOString() },
        attempt,
        { attempt },
      );
    } catch (error) {
      await this.settleFailure(
        running,
        attempt,
        controller.signal.aborted ? controller.signal.reason : error,
        delivery.signal.aborted,
      );
    } finally {
      clearTimeout(timer);
      delivery.signal.removeEventListener('abort', forward);
    }
  }

  private async settleFailure(task: Task, attempt: number, error: unknown, deliveryAborted: boolean): Promise<void> {
    const { store, settings } = this.deps;
    const now = new Date().toISOString();
    if (deliveryAborted) {
      const current = await store.get(task.id);
      if (current?.cancelRequested) {
        const cancelled = { code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' };
        await this.eventLog.move(
          task.id,
          ['running'],
          { status: 'cancelled', error: cancelled, finishedAt: now },
          attempt,
          { attempt, error: cancelled },
        );
        return;
      }
      // The worker is shutting down: the task goes back to the queue (the attempt stays counted). An in-process
      // broker re-queues it at the next start; a durable one takes it now, for another worker.
      const stalled = { code: ErrorCodes.TASK_STALLED, message: 'the worker stopped while this attempt ran' };
      const back = await this.eventLog.move(task.id, ['running'], { status: 'queued', error: stalled }, attempt, {
        attempt,
        error: stalled,
      });
      if (back && !this.deps.broker.recoversOnStart) await this.enqueue(back);
      return;
    }
    const taskError = isOpspawnError(error)
      ? { code: error.code, message: error.message }
      : { code: ErrorCodes.TASK_INTERNAL, message: describeError(error) };
    if (attempt < task.maxAttempts && !PERMANENT.has(taskError.code)) {
      const delayMs = backoff(attempt, settings.retryBackoffMs, settings.maxRetryBackoffMs);
      const back = await this.eventLog.move(task.id, ['running'], { status: 'queued', error: taskError }, attempt, {
        attempt,
        error: taskError,
        retryInMs: delayMs,
      });
      if (!back) return;
      await this.deps.broker.enqueue(task.id, { priority: task.priority, delayMs, attempts: attempt });
      return;
    }
    await this.eventLog.move(task.id, ['running'], { status: 'failed', error: taskError, finishedAt: now }, attempt, {
      attempt,
      error: taskError,
    });
    this.log.debug({ taskId: task.id, code: taskError.code }, 'task failed');
  }

  /**
   * A redelivery of a task that is `running`: the worker that ran the attempt stopped answering and the broker
   * took its job back. Ends the dead attempt (counted) and queues the task again under a new job for the next
   * attempt, or fails it once it has stalled more than `maxStalls` times. A redelivery of a job older than the
   * running attempt (its attempt already ended and a later one runs) changes nothing.
   */
  private async takeOverStalled(task: Task, delivery: Delivery): Promise<void> {
    const { settings } = this.deps;
    if (delivery.attempts !== undefined && task.attempts !== delivery.attempts + 1) return;
    const stalls = delivery.stalls ?? 0;
    if (stalls > settings.maxStalls) {
      const error = {
        code: ErrorCodes.TASK_STALLED,
        message: `the task stalled ${stalls} times (its worker stopped answering each time); maxStalls is ${settings.maxStalls}`,
      };
      await this.eventLog.move(
        task.id,
        ['running'],
        { status: 'failed', error, finishedAt: new Date().toISOString() },
        task.attempts,
        { attempt: task.attempts, error },
      );
      return;
    }
    const error = { code: ErrorCodes.TASK_STALLED, message: 'the worker running this attempt stopped answering' };
    const back = await this.eventLog.move(task.id, ['running'], { status: 'queued', error }, task.attempts, {
      attempt: task.attempts,
      error,
      stalls,
    });
    // A job of its own for the next attempt keeps "job (task, n) runs attempt n + 1" true for later redeliveries.
    if (back) await this.enqueue(back);
  }

  private scheduleReconcile(): void {
    const interval = this.deps.settings.reconcileIntervalMs;
    // Jitter keeps the sweeps of many workers started together from landing at the same moment.
    this.reconcileTimer = setTimeout(
      () => {
        this.reconciling = this.reconcile()
          .then(
            () => undefined,
            (error) =>
              this.log.warn({ err: describeError(error) }, 'recovery sweep failed; it runs again next interval'),
          )
          .finally(() => {
            this.reconciling = undefined;
            if (!this.stopping) this.scheduleReconcile();
          });
      },
      Math.round(interval * (0.8 + Math.random() * 0.4)),
    );
    this.reconcileTimer.unref();
  }

  /**
   * Hands back work a durable broker lost (its data was wiped, an enqueue failed while it was down, a worker
   * died where the broker could not see it): running attempts past their deadline end as stalled and go back to
   * the queue; queued tasks untouched for a whole interval are enqueued again. Enqueueing (task, attempts) twice
   * is harmless, and every change is a compare-and-set, so many workers may sweep at once.
   */
  async reconcile(): Promise<{ requeued: number; stalled: number }> {
    const { store, settings } = this.deps;
    const now = Date.now();
    let stalled = 0;
    for (const task of await store.findByStatus(['running'], 500)) {
      const startedAt = task.startedAt ? Date.parse(task.startedAt) : Date.parse(task.updatedAt);
      if (startedAt + task.timeoutMs + settings.reconcileIntervalMs > now) continue;
      const exhausted = task.attempts >= task.maxAttempts + settings.maxStalls;
      const error = {
        code: ErrorCodes.TASK_STALLED,
        message: `attempt ${task.attempts} outlived its deadline with no worker answering${exhausted ? ', and the task has no attempts left' : ''}`,
      };
      const change = exhausted
        ? { status: 'failed' as const, error, finishedAt: new Date().toISOString() }
        : { status: 'queued' as const, error };
      const moved = await this.eventLog.move(task.id, ['running'], change, task.attempts, {
        attempt: task.attempts,
        error,
      });
      if (!moved) continue;
      stalled++;
      if (!exhausted) await this.enqueue(moved);
    }
    const quietSince = now - settings.reconcileIntervalMs;
    const requeued = await this.enqueueQueued((task) => Date.parse(task.updatedAt) <= quietSince);
    if (stalled > 0)
      this.log.warn(
        { stalled },
        `recovery sweep: ${stalled} running attempt(s) outlived their deadline with no worker answering`,
      );
    this.log.debug({ requeued, stalled }, 'recovery sweep done');
    return { requeued, stalled };
  }

  /** After a restart: attempts that were running are counted and queued again; every unfinished task is enqueued. */
  private async recover(): Promise<void> {
    const { store } = this.deps;
    for (;;) {
      const running = await store.findByStatus(['running'], 500);
      if (running.length === 0) break;
      for (const task of running) {
        const stalled = { code: ErrorCodes.TASK_STALLED, message: 'the host stopped while this attempt ran' };
        await this.eventLog.move(task.id, ['running'], { status: 'queued', error: stalled }, task.attempts, {
          attempt: task.attempts,
          error: stalled,
        });
      }
    }
    const requeued = await this.enqueueQueued(() => true);
    if (requeued > 0) this.log.info({ requeued }, `re-queued ${requeued} unfinished task(s) from the store`);
  }

  /**
   * Enqueues the store's queued tasks that `include` accepts, page by page (ids are time-sortable, so paging by
   * status is stable), until the engine stops; returns how many.
   */
  private async enqueueQueued(include: (task: Task) => boolean): Promise<number> {
    let enqueued = 0;
    let cursor: string | undefined;
    do {
      const page = await this.deps.store.list({ status: ['queued'], limit: 500, cursor });
      const chosen = page.tasks.filter(include);
      await Promise.all(chosen.map((task) => this.enqueue(task)));
      enqueued += chosen.length;
      cursor = page.nextCursor;
    } while (cursor && !this.stopping);
    return enqueued;
  }

  /** Enqueues a queued task as (task, attempts): harmless while that job still waits, so every path may use it. */
  private enqueue(task: Task): Promise<void> {
    return this.deps.broker.enqueue(task.id, {
      priority: task.priority,
      delayMs: delayUntil(task.notBefore),
      attempts: task.attempts,
    });
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function delayUntil(notBefore: string | undefined): number {
  return notBefore ? Math.max(0, Date.parse(notBefore) - Date.now()) : 0;
}

/** Exponential backoff with ±20% jitter, capped. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}
