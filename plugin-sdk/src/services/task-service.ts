import type { SubmitTaskRequest, Task, TaskPage, TaskQuery } from '../task.js';
import type { TaskEvent, TaskStreamEvent } from '../task-event.js';

export interface WatchOptions {
  /** Replay events with `seq` greater than this first (0 replays everything). */
  afterSeq?: number;
  /** Ends the stream early. */
  signal?: AbortSignal;
}

/**
 * The kernel's task API, the one transports and plugins call.
 *
 * Refusals throw `OpspawnError`: TASK_INVALID (with field details), PLANNER_UNKNOWN, MEMORY_UNKNOWN,
 * IDEMPOTENCY_CONFLICT, TASK_NOT_FOUND, TASK_NOT_CANCELLABLE.
 */
export interface TaskService {
  /** Same idempotency key and same request: the same task with `created: false`. */
  submit(request: SubmitTaskRequest): Promise<{ task: Task; created: boolean }>;
  get(id: string): Promise<Task>;
  list(query?: TaskQuery): Promise<TaskPage>;
  cancel(id: string): Promise<Task>;
  events(id: string, afterSeq?: number, limit?: number): Promise<TaskEvent[]>;
  /** Replays from `afterSeq`, then follows live; ends after the task's final event. */
  watch(id: string, options?: WatchOptions): AsyncIterable<TaskEvent>;
  /**
   * `watch`, with the transient `delta` events of a streaming planner yielded live between the stored events. Deltas
   * are never replayed: a watch that starts after a step sees only that step's stored decision.
   */
  watchLive(id: string, options?: WatchOptions): AsyncIterable<TaskStreamEvent>;
}
