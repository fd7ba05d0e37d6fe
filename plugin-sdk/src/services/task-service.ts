import type { ErrorCode } from '../errors/error-registry.js';
import type { SubmitTaskRequest, Task, TaskIdentity, TaskPage, TaskQuery } from '../task.js';
import type { TaskEvent, TaskStreamEvent } from '../task-event.js';

export interface WatchOptions {
  /** Replay events with `seq` greater than this first (0 replays everything). */
  afterSeq?: number;
  /** Ends the stream early. */
  signal?: AbortSignal;
}

/** A person's decision on a tool call that waits for approval (`TaskService.decide`). */
export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  /** Why; a rejected call's error carries it to the planner. At most 2,000 characters. */
  note?: string;
  /** Approve only: the arguments the call runs with instead of the planner's (checked against the tool's schema). */
  arguments?: unknown;
}

/**
 * What one task of a batch got, in the order submitted: the task (`created: false` for a replayed idempotency key),
 * or, for a key used before with a different request, that request's IDEMPOTENCY_CONFLICT and nothing written.
 */
export type BatchItemResult =
  | { task: Task; created: boolean }
  | { error: { code: ErrorCode; message: string; hint: string } };

/**
 * The kernel's task API, the one transports and plugins call.
 *
 * Refusals throw `OpspawnError`: TASK_INVALID (with field details), PLANNER_UNKNOWN, MEMORY_UNKNOWN,
 * IDEMPOTENCY_CONFLICT, TASK_NOT_FOUND, TASK_NOT_CANCELLABLE, INVALID_REQUEST, APPROVAL_NOT_FOUND, APPROVAL_NOT_WAITING.
 */
export interface TaskService {
  /** Same idempotency key and same request: the same task with `created: false`. */
  submit(request: SubmitTaskRequest): Promise<{ task: Task; created: boolean }>;
  /**
   * Submits up to MAX_BATCH_TASKS tasks in one call, written together (one statement, one Redis write). Checked as a
   * whole first: one invalid task (or two tasks with one idempotency key) refuses the batch and nothing is written;
   * the error names each bad task (`tasks[2].goal`). Each idempotency key keeps its meaning per task (see
   * `BatchItemResult`), so a batch sent again after a lost answer returns the same tasks.
   */
  submitBatch(requests: readonly SubmitTaskRequest[]): Promise<BatchItemResult[]>;
  get(id: string): Promise<Task>;
  /**
   * The task's fields that never change (`TaskIdentity`): from this process's memory when it created or started the
   * task recently, else read from the store. Cheap enough to call for every event; TASK_NOT_FOUND like `get`.
   */
  identity(id: string): Promise<TaskIdentity>;
  /**
   * The task's identity when this process remembers it (it created or moved the task lately), without a read or a
   * promise; else `undefined`, and `identity` reads it. For code on the path of every event.
   */
  knownIdentity(id: string): TaskIdentity | undefined;
  list(query?: TaskQuery): Promise<TaskPage>;
  cancel(id: string): Promise<Task>;
  /**
   * Decides the call `callId` the task waits on (status `waiting_approval`): writes an `approval_decided` event
   * naming `by` (the API key's name) and queues the task again, which resumes at that call. A call that does not
   * wait (decided, expired, or the task moved on) is refused with APPROVAL_NOT_WAITING; a call never asked about
   * with APPROVAL_NOT_FOUND.
   */
  decide(id: string, callId: string, decision: ApprovalDecision, by?: string): Promise<Task>;
  events(id: string, afterSeq?: number, limit?: number): Promise<TaskEvent[]>;
  /** Replays from `afterSeq`, then follows live; ends after the task's final event. */
  watch(id: string, options?: WatchOptions): AsyncIterable<TaskEvent>;
  /**
   * `watch`, with the transient `delta` events of a streaming planner yielded live between the stored events. Deltas
   * are never replayed: a watch that starts after a step sees only that step's stored decision.
   */
  watchLive(id: string, options?: WatchOptions): AsyncIterable<TaskStreamEvent>;
}
