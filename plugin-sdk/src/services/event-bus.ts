import type { TaskStreamEvent } from '../task-event.js';

/**
 * Fans task events out to live watchers. The kernel publishes every event the store appends, and the transient
 * deltas of a streaming planner; a distributed deployment relays both so watchers in one process see what another
 * process appends or streams.
 */
export interface EventBus {
  publish(event: TaskStreamEvent): void;
  /** `taskId` of '*' receives every task's events. Returns an unsubscribe function. */
  subscribe(taskId: string, listener: (event: TaskStreamEvent) => void): () => void;
  /**
   * Receives every event published in this process, of every task, and none relayed from another process: what
   * counts work done here (metrics) without counting it again in each process that sees it relayed. Returns an
   * unsubscribe function.
   */
  subscribeLocal(listener: (event: TaskStreamEvent) => void): () => void;
  /**
   * False when nobody can be watching `taskId` (no watcher in this process, no relay to others): publishing a
   * transient delta is then skipped.
   */
  mayWatch(taskId: string): boolean;
}
