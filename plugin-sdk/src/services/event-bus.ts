import type { TaskEvent } from '../task-event.js';

/**
 * Fans task events out to live watchers. The kernel publishes every event the store appends; a distributed
 * deployment replaces the in-process bus so watchers in one process see events appended in another.
 */
export interface EventBus {
  publish(event: TaskEvent): void;
  /** `taskId` of '*' receives every task's events. Returns an unsubscribe function. */
  subscribe(taskId: string, listener: (event: TaskEvent) => void): () => void;
}
