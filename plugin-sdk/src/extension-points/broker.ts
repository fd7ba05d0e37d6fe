/** One delivery of a task to a worker. */
export interface Delivery {
  taskId: string;
  /** Aborted when the task is cancelled (from any process) or the broker shuts down. */
  signal: AbortSignal;
}

export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export interface EnqueueOptions {
  /** Higher is delivered first. */
  priority: number;
  /** Deliver no earlier than this many milliseconds from now. */
  delayMs?: number;
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
  enqueue(taskId: string, options: EnqueueOptions): Promise<void>;
  /** Starts delivering to `handler`, at most `concurrency` at a time in this process. */
  consume(handler: DeliveryHandler, options: { concurrency: number }): Promise<void>;
  /** Aborts the signal of the delivery running `taskId`, in whichever process runs it. */
  cancel(taskId: string): Promise<void>;
  /** Stops taking new deliveries and waits up to `timeoutMs` for running ones to finish. */
  drain(timeoutMs: number): Promise<void>;
}
