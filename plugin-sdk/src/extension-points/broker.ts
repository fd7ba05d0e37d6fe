import type { TaskStreamEvent } from '../task-event.js';

/** One delivery of a task to a worker. */
export interface Delivery {
  taskId: string;
  /** Aborted when the task is cancelled (from any process) or the broker shuts down. */
  signal: AbortSignal;
  /** The `attempts` given to `enqueue`, when the broker keeps it: which attempt this delivery was queued for. */
  attempts?: number;
  /**
   * How many times a delivery of this task was taken back from a worker that stopped answering (died, or was cut
   * off from the broker) and handed to another. 0 or unset for a first delivery. The task engine uses it to
   * take over a `running` task whose worker is gone, and to fail a task that keeps killing its workers.
   */
  stalls?: number;
  /**
   * When the broker keeps it: the `notBefore` given to `enqueue` (null: none), so a worker can start a first delivery
   * that is due without reading the task back. It is the task as it was when enqueued, never the truth: the store's
   * compare-and-set on (queued, `attempts`) decides whether the delivery may start it.
   */
  notBefore?: string | null;
}

export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export interface EnqueueOptions {
  /** Higher is delivered first. */
  priority: number;
  /** Deliver no earlier than this many milliseconds from now. */
  delayMs?: number;
  /**
   * Attempts the task had made when it was enqueued. A durable broker makes (taskId, attempts) one job, so
   * enqueueing the same pair again while its job is waiting is harmless: the recovery sweep relies on that.
   */
  attempts?: number;
  /** The task's `notBefore` (null: none), for a broker to hand back in `Delivery.notBefore`; unset: not known. */
  notBefore?: string | null;
}

/** Jobs waiting in a broker at one priority: ready to deliver, and delayed (a retry's backoff, `notBefore`). */
export interface QueueDepth {
  priority: number;
  ready: number;
  delayed: number;
}

/**
 * Carries task events between processes, so a watcher in an API process sees the events appended by the worker
 * process running the task, and the transient deltas its planner streams. The store stays the record: a relay may
 * drop a message, never invent one.
 */
export interface EventRelay {
  /** Sends an event appended (or a delta streamed) in this process to the other processes. */
  publish(event: TaskStreamEvent): void;
  /**
   * Receives the events of `taskId` ('*': every task) published by other processes, in the order each process
   * published them. Returns an unsubscribe function.
   */
  subscribe(taskId: string, listener: (event: TaskStreamEvent) => void): () => void;
}

/**
 * Moves task ids from submitters to workers.
 *
 * Promise: at-least-once delivery (a delivery whose handler throws, or whose worker dies, is delivered again);
 * higher priority first among ready jobs; delays honoured; `cancel` aborts the delivery's signal wherever the
 * task runs. The store, not the broker, holds status and history.
 */
export interface Broker {
  /**
   * True when the broker keeps no state across restarts (an in-process queue): the task engine then re-queues
   * the store's unfinished tasks when it starts. A durable broker recovers its own jobs and leaves this unset.
   */
  readonly recoversOnStart?: boolean;
  /** Present on brokers that span processes: the kernel's event bus relays task events through it. */
  readonly events?: EventRelay;
  enqueue(taskId: string, options: EnqueueOptions): Promise<void>;
  /** Starts delivering to `handler`, at most `concurrency` at a time in this process. */
  consume(handler: DeliveryHandler, options: { concurrency: number }): Promise<void>;
  /**
   * Aborts the signal of the delivery running `taskId`, in whichever process runs it. A broker may also drop the
   * task's jobs still waiting (the in-process broker does); one that keeps them delivers them later, and the task
   * engine ignores a delivery of a task that is no longer queued.
   */
  cancel(taskId: string): Promise<void>;
  /**
   * Stops taking new deliveries and waits up to `timeoutMs` for running ones to finish; then aborts the signals of
   * those still running and resolves without waiting for them again (their handlers hand the tasks back, and the
   * task engine waits for that within its own stop timeout).
   */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Present on brokers that can lose their connection to a service they queue in. Calls `listener` each time the
   * connection comes back after it was lost, once `enqueue` works again; returns an unsubscribe function. The
   * service may have come back empty, so jobs enqueued before may be gone: the task engine then enqueues the
   * store's queued tasks again at once rather than at its next recovery sweep. While the connection is down,
   * `enqueue` should fail fast with BROKER_UNAVAILABLE rather than hold the caller.
   */
  onReconnect?(listener: () => void): () => void;
  /**
   * Present on brokers that can count their waiting jobs cheaply: one entry per priority that has any (the
   * metrics plugin's queue-depth gauge). Not running deliveries.
   */
  depth?(): Promise<QueueDepth[]>;
}
