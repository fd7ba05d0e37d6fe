import BeeQueue from 'bee-queue';
import redis, { type RedisClient } from 'redis';
import {
  ErrorCodes,
  OpspawnError,
  TickBatch,
  describeError,
  redactUrl,
  type Broker,
  type DeliveryHandler,
  type EnqueueOptions,
  type HealthCheckResult,
  type Logger,
  type QueueDepth,
} from '@opspawn/plugin-sdk';
import { isNoScriptError, loadBeeQueueScripts, reloadScriptsOnNoScript } from './bee-queue-workarounds.js';
import { RedisEventRelay } from './redis-event-relay.js';
import { RedisOutbox } from './redis-outbox.js';
import { RedisSubscriber } from './redis-subscriber.js';
import { SlotFetcher } from './slot-fetcher.js';

export interface BeeQueueBrokerOptions {
  /** redis:// URL of the Redis every API and worker process of the deployment shares. */
  url: string;
  /** Name of this deployment's queues; deployments sharing one Redis need different names. */
  queue: string;
  /** bee-queue's key prefix. */
  prefix: string;
  /**
   * Priority levels, one bee-queue queue each. A task goes to the highest level at or below its priority
   * (below the lowest level: the lowest). Default [1, 0, -1]: high (1..10), normal (0), low (-10..-1).
   */
  priorityLevels: number[];
  /** A worker that has not renewed a job's lock for this long is taken to be dead and its job is handed back. */
  stallIntervalMs: number;
  /**
   * @deprecated Has no effect: a worker takes jobs only for free slots, highest level first, so no job waits in a
   * worker for a slot. Still accepted so configurations that set it load.
   */
  refillWaitMs: number;
  /** Longest `enqueue` waits for Redis; then the task stays queued in the store for the recovery sweep. */
  enqueueTimeoutMs: number;
  /** Longest to wait for Redis when the plugin starts. */
  connectTimeoutMs: number;
  /** First delay before a job whose handler threw (the store or Redis failed) is delivered again; doubles. */
  redeliveryBackoffMs: number;
  /** Redeliveries of one job after handler failures; then the job is dropped and the recovery sweep takes over. */
  maxRedeliveries: number;
}

export const BEE_QUEUE_BROKER_DEFAULTS: BeeQueueBrokerOptions = {
  url: 'redis://127.0.0.1:6379',
  queue: 'opspawn',
  prefix: 'bq',
  priorityLevels: [1, 0, -1],
  stallIntervalMs: 5000,
  refillWaitMs: 100,
  enqueueTimeoutMs: 5000,
  connectTimeoutMs: 10_000,
  redeliveryBackoffMs: 1000,
  maxRedeliveries: 10,
};

interface JobData {
  /** Task id. */
  t: string;
  /** Attempts the task had made when enqueued. */
  a?: number;
  /** The task's notBefore when enqueued, '' for none; absent when the enqueue did not say (read the store). */
  n?: string;
}

const DELAYED_JOB_POLL_MS = 5000;
/** Longest wait between a worker's attempts to fetch a job while Redis is unreachable. */
const MAX_FETCH_RETRY_DELAY_MS = 2000;
/** How long `close` waits for Redis to answer QUIT before it cuts the connections. */
const CLOSE_GRACE_MS = 2000;

/**
 * A broker on bee-queue over Redis: any number of API and worker processes on any number of machines share it.
 * bee-queue gives reliable delivery (a job moves to an active list while a worker holds it and comes back when
 * the worker stops renewing its lock), delays and retries with backoff; this class adds priority levels (one
 * queue each, taken highest first by `SlotFetcher`), stall counts, cancellation over pub/sub, and the event relay.
 */
export class BeeQueueBroker implements Broker {
  readonly events: RedisEventRelay;
  private readonly levels: number[];
  private readonly producers: BeeQueue<JobData>[];
  private workers: BeeQueue<JobData>[] = [];
  private fetcher?: SlotFetcher;
  private readonly running = new Map<string, Set<AbortController>>();
  private readonly deliveries = new Set<Promise<unknown>>();
  private readonly subscriber: RedisSubscriber;
  private readonly outbox: RedisOutbox;
  private unsubscribeCancel?: () => void;
  private draining?: Promise<void>;
  /** The worker queues' close, begun by the drain: bee-queue's waits for the jobs it runs to record their outcome. */
  private workersClosed?: Promise<unknown>;
  private closed?: Promise<void>;
  private readonly keys: { deliveries: string; stalls: string; cancel: string; events: string };
  private readonly reconnectListeners = new Set<() => void>();

  private constructor(
    private readonly options: BeeQueueBrokerOptions,
    private readonly client: RedisClient,
    private readonly subscriberClient: RedisClient,
    private readonly log: Logger,
  ) {
    this.levels = [...new Set(options.priorityLevels)].sort((a, b) => b - a);
    const base = `${options.prefix}:${options.queue}:`;
    this.keys = {
      deliveries: `${base}deliveries`,
      stalls: `${base}stalls:`,
      cancel: `${base}cancel`,
      events: `${base}events:`,
    };
    this.subscriber = new RedisSubscriber(subscriberClient);
    this.outbox = new RedisOutbox(client);
    this.events = new RedisEventRelay(this.outbox, this.subscriber, this.keys.events);
    this.producers = this.levels.map(
      (level) =>
        new BeeQueue<JobData>(this.queueName(level), {
          ...this.queueSettings(),
          isWorker: false,
        }),
    );
    for (const queue of this.producers) {
      queue.on('error', (error) => this.onError(error));
      reloadScriptsOnNoScript(queue);
    }
    // `open` resolved on the first 'ready': each one after it is a reconnect, maybe to a Redis that lost everything.
    client.on('ready', () => this.reloadScriptsThenAnnounce(client, 10));
  }

  /** Connects to Redis (within `connectTimeoutMs`) and readies one producer queue per priority level. */
  static async open(options: BeeQueueBrokerOptions, log: Logger): Promise<BeeQueueBroker> {
    const [client, subscriber] = await Promise.all([connect(options), connect(options)]);
    const broker = new BeeQueueBroker(options, client, subscriber, log);
    await Promise.all(broker.producers.map((queue) => queue.ready()));
    return broker;
  }

  /**
   * Enqueues made in one turn of the event loop are saved together: one write to Redis per priority level. While
   * Redis is unreachable, refuses at once (BROKER_UNAVAILABLE) rather than hold the caller until it is back.
   */
  enqueue(taskId: string, options: EnqueueOptions): Promise<void> {
    if (!this.client.connected)
      return Promise.reject(
        new OpspawnError(
          ErrorCodes.BROKER_UNAVAILABLE,
          `Redis at ${redactUrl(this.options.url)} is unreachable; task ${taskId} was not enqueued`,
          {
            hint: 'check that Redis is running; the task stays queued in the store and is enqueued again once the broker reconnects',
          },
        ),
      );
    // Whatever Redis answered (a connection lost mid-command, out of memory, read-only replica), the caller learns
    // one thing: the broker did not take the task.
    const saved = this.enqueues.add({ taskId, options }).catch((error: unknown) => {
      if (error instanceof OpspawnError) throw error;
      throw new OpspawnError(
        ErrorCodes.BROKER_UNAVAILABLE,
        `Redis at ${redactUrl(this.options.url)} refused task ${taskId}: ${describeError(error)}`,
        {
          hint: "check Redis (its log, memory and role); the task stays queued in the store and the workers' recovery sweep enqueues it",
        },
      );
    });
    return withTimeout(
      saved,
      this.options.enqueueTimeoutMs,
      () =>
        new OpspawnError(
          ErrorCodes.BROKER_UNAVAILABLE,
          `Redis at ${redactUrl(this.options.url)} did not take task ${taskId} within ${this.options.enqueueTimeoutMs} ms`,
          {
            hint: "check that Redis is running; the task stays queued in the store and the workers' recovery sweep enqueues it",
          },
        ),
    );
  }

  private readonly enqueues = new TickBatch<{ taskId: string; options: EnqueueOptions }, void>((items) =>
    this.saveJobs(items),
  );

  private async saveJobs(items: Array<{ taskId: string; options: EnqueueOptions }>): Promise<Array<undefined | Error>> {
    const failed = await this.saveJobsOnce(items);
    // A Redis that lost bee-queue's scripts refuses every job of the batch: load them and save those once more.
    const refused = items.filter((_, i) => isNoScriptError(failed[i]));
    if (refused.length === 0) return failed;
    await loadBeeQueueScripts(this.client);
    const retried = await this.saveJobsOnce(refused);
    return failed.map((error) => (isNoScriptError(error) ? retried.shift() : error));
  }

  private async saveJobsOnce(
    items: Array<{ taskId: string; options: EnqueueOptions }>,
  ): Promise<Array<undefined | Error>> {
    const jobs = items.map(({ taskId, options }) => {
      const level = this.levelIndex(options.priority);
      const data: JobData = { t: taskId, a: options.attempts };
      if (options.notBefore !== undefined) data.n = options.notBefore ?? '';
      const job = this.producers[level]!.createJob<JobData>(data)
        .retries(this.options.maxRedeliveries)
        .backoff('exponential', this.options.redeliveryBackoffMs);
      if (options.attempts !== undefined) job.setId(`${taskId}.${options.attempts}`);
      if (options.delayMs && options.delayMs > 0) job.delayUntil(Date.now() + options.delayMs);
      return { level, job };
    });
    const failed = new Map<BeeQueue.Job<JobData>, Error>();
    await Promise.all(
      this.producers.map(async (queue, level) => {
        const mine = jobs.filter((j) => j.level === level).map((j) => j.job);
        if (mine.length === 0) return;
        for (const [job, error] of await queue.saveAll(mine)) failed.set(job, error);
      }),
    );
    return jobs.map(({ job }) => failed.get(job));
  }

  async consume(handler: DeliveryHandler, options: { concurrency: number }): Promise<void> {
    if (this.fetcher) throw new Error('consume was called twice');
    this.unsubscribeCancel = this.subscriber.subscribe(this.keys.cancel, (_channel, taskId) => this.abortLocal(taskId));
    this.workers = this.levels.map(
      (level) =>
        new BeeQueue<JobData>(this.queueName(level), {
          ...this.queueSettings(),
          isWorker: true,
          activateDelayedJobs: true,
          stallInterval: this.options.stallIntervalMs,
          // Delayed jobs are raised when a notice arrives on pub/sub, and at the latest this often: a notice lost while
          // Redis restarted must not leave a retry waiting for bee-queue's default 20 minutes.
          nearTermWindow: DELAYED_JOB_POLL_MS,
          // bee-queue reads this setting (lib/defaults.js) but its types omit it: retry a lost Redis after 250 ms, not 1 s.
          ...{ initialRedisFailureRetryDelay: 250 },
        }),
    );
    for (const queue of this.workers) reloadScriptsOnNoScript(queue);
    await Promise.all(this.workers.map((queue) => queue.ready()));
    this.fetcher = new SlotFetcher(
      this.workers,
      this.client,
      { deliveries: this.keys.deliveries, stallsPrefix: this.keys.stalls, levels: this.levels },
      options.concurrency,
      MAX_FETCH_RETRY_DELAY_MS,
      (error) => this.onError(error),
    );
    for (const queue of this.workers) {
      queue.on('error', (error) => this.onError(error));
      // Every worker takes part in finding jobs whose worker died; bee-queue runs one check per interval overall.
      queue.checkStalledJobs(this.options.stallIntervalMs).catch((error) => this.onError(error));
    }
    this.fetcher.start((_level, job, stalls) => this.deliver(job as BeeQueue.Job<JobData>, stalls, handler));
  }

  async cancel(taskId: string): Promise<void> {
    this.abortLocal(taskId);
    await new Promise<void>((resolve, reject) =>
      this.client.publish(this.keys.cancel, taskId, (error) => (error ? reject(error) : resolve())),
    );
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining ??= this.drainOnce(timeoutMs);
    return this.draining;
  }

  /**
   * Calls `listener` each time the connection to Redis comes back after it was lost, once the broker takes
   * enqueues again. Redis may have come back empty: jobs enqueued before are then gone.
   */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /**
   * Drains, then closes every Redis connection: politely (QUIT) if Redis answers within a moment, otherwise cut.
   * Either way nothing of the broker keeps the process alive afterwards.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.reconnectListeners.clear();
      await this.drain(0);
      // The worker queues first: the outcomes of their last jobs are written on the shared client before its QUIT.
      const polite = (async () => {
        await this.workersClosed;
        await Promise.all(this.producers.map((queue) => queue.close(1000).catch(() => undefined)));
        await Promise.all([quit(this.client), quit(this.subscriberClient)]);
      })();
      await Promise.race([polite, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      for (const client of this.connections()) client.end(true);
    })();
    return this.closed;
  }

  /**
   * Waiting jobs per priority level (a task's priority is queued at the nearest level): bee-queue's own counts,
   * one round trip per level. Throws BROKER_UNAVAILABLE while Redis is unreachable.
   */
  async depth(): Promise<QueueDepth[]> {
    if (!this.client.connected)
      throw new OpspawnError(ErrorCodes.BROKER_UNAVAILABLE, `Redis at ${redactUrl(this.options.url)} is unreachable`);
    const counts = await Promise.all(this.producers.map((queue) => queue.checkHealth()));
    return counts
      .map((c, i) => ({ priority: this.levels[i]!, ready: c.waiting, delayed: c.delayed }))
      .filter((d) => d.ready > 0 || d.delayed > 0);
  }

  async health(): Promise<HealthCheckResult> {
    if (!this.client.connected)
      return { state: 'down', detail: `Redis at ${redactUrl(this.options.url)} is unreachable; reconnecting` };
    const counts = await Promise.all(this.producers.map((queue) => queue.checkHealth()));
    const sum = (key: 'waiting' | 'active' | 'delayed') => counts.reduce((total, c) => total + c[key], 0);
    return { state: 'ok', detail: `waiting ${sum('waiting')}, active ${sum('active')}, delayed ${sum('delayed')}` };
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Runs one job; `stalls` is the task's stall count if this job was delivered before and never finished, else 0. */
  private async deliver(job: BeeQueue.Job<JobData>, stalls: number, handler: DeliveryHandler): Promise<void> {
    const { t: taskId, a: attempts, n } = job.data;
    const controller = new AbortController();
    let controllers = this.running.get(taskId);
    if (!controllers) {
      controllers = new Set();
      this.running.set(taskId, controllers);
    }
    controllers.add(controller);
    const delivery = handler({
      taskId,
      signal: controller.signal,
      attempts,
      stalls,
      ...(n !== undefined ? { notBefore: n || null } : {}),
    });
    this.deliveries.add(delivery);
    try {
      await delivery;
    } finally {
      this.deliveries.delete(delivery);
      controllers.delete(controller);
      if (controllers.size === 0) this.running.delete(taskId);
    }
  }

  private abortLocal(taskId: string): void {
    for (const controller of this.running.get(taskId) ?? []) controller.abort(new Error('cancelled'));
  }

  /** Every Redis connection of the broker, bee-queue's own included. */
  private connections(): RedisClient[] {
    const queues = [...this.producers, ...this.workers] as unknown as Array<{
      bclient?: RedisClient | null;
      eclient?: RedisClient | null;
    }>;
    return [
      this.client,
      this.subscriberClient,
      ...queues.flatMap((queue) => [queue.bclient, queue.eclient].filter((c): c is RedisClient => Boolean(c))),
    ];
  }

  /** A Redis that has just come back may refuse the first commands: the scripts are loaded again until it takes them. */
  private reloadScriptsThenAnnounce(client: RedisClient, triesLeft: number): void {
    loadBeeQueueScripts(client).then(
      () => this.announceReconnect(),
      (error) => {
        if (triesLeft > 0 && !this.closed)
          setTimeout(() => this.reloadScriptsThenAnnounce(client, triesLeft - 1), 200).unref();
        else this.onError(error);
      },
    );
  }

  private announceReconnect(): void {
    if (this.closed) return;
    this.log.info(`broker: connected to Redis at ${redactUrl(this.options.url)} again`);
    for (const listener of this.reconnectListeners) {
      try {
        listener();
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /**
   * Waits up to `timeoutMs` for the running deliveries, then aborts those still running and returns without waiting
   * for them again: their handlers hand their tasks back, which the task engine waits for within its stop timeout.
   * The worker queues close meanwhile (bee-queue's close waits for their jobs); `close` gives that a grace period.
   */
  private async drainOnce(timeoutMs: number): Promise<void> {
    // The worker takes no more jobs; a job that reached one of its waits meanwhile goes back to the head of its queue.
    const released = Promise.race([
      this.fetcher?.close(),
      new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    this.workersClosed = released.then(() =>
      Promise.all(
        this.workers.map((queue) => queue.close(Math.max(timeoutMs, 1) + 2000).catch((error) => this.onError(error))),
      ),
    );
    const settled = Promise.allSettled([...this.deliveries]);
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    if ((await Promise.race([settled, timer])) === 'timeout' && this.deliveries.size > 0) {
      this.log.warn(
        { running: this.deliveries.size },
        `drain: ${this.deliveries.size} task(s) still running after ${timeoutMs} ms; aborting them`,
      );
      for (const controllers of this.running.values())
        for (const c of controllers) c.abort(new Error('the worker is shutting down'));
    }
    this.unsubscribeCancel?.();
  }

  private levelIndex(priority: number): number {
    const index = this.levels.findIndex((level) => level <= priority);
    return index < 0 ? this.levels.length - 1 : index;
  }

  private queueName(level: number): string {
    return `${this.options.queue}-p${level}`;
  }

  private queueSettings(): BeeQueue.QueueSettings {
    return {
      redis: this.client,
      prefix: this.options.prefix,
      getEvents: false,
      sendEvents: false,
      storeJobs: false,
      removeOnSuccess: true,
      removeOnFailure: true,
    };
  }

  private lastError = 0;
  private onError(error: unknown): void {
    // Redis being down makes every connection complain several times a second: one line per 5 s is enough.
    if (Date.now() - this.lastError < 5000) return;
    this.lastError = Date.now();
    this.log.warn({ err: describeError(error) }, `broker: ${describeError(error)}`);
  }
}

function connect(options: BeeQueueBrokerOptions): Promise<RedisClient> {
  const client = redis.createClient(options.url, {
    // Reconnect for as long as it takes: a worker outlives a Redis restart.
    retry_strategy: ({ attempt }) => Math.min(attempt * 100, 2000),
  });
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const onError = (error: unknown) => (lastError = error);
    client.on('error', onError);
    const timer = setTimeout(() => {
      client.end(false);
      reject(
        new OpspawnError(
          ErrorCodes.BROKER_UNAVAILABLE,
          `cannot reach Redis at ${redactUrl(options.url)} within ${options.connectTimeoutMs} ms${lastError ? `: ${describeError(lastError)}` : ''}`,
          {
            hint: "start Redis, or set the broker-bee-queue url option (e.g. url: '${REDIS_URL}')",
          },
        ),
      );
    }, options.connectTimeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      client.removeListener('error', onError);
      // Errors while reconnecting are reported by the queues; the client must still have a listener.
      client.on('error', () => undefined);
      resolve(client);
    });
  });
}

function quit(client: RedisClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) {
      client.end(false);
      return resolve();
    }
    client.quit(() => resolve());
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(error()), ms))),
  ]);
}
