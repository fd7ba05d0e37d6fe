/** The task model shared by every store, broker, planner and transport. Timestamps are ISO-8601 strings. */

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'cancelled'];

export function isFinalStatus(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

export interface TaskError {
  code: string;
  message: string;
}

export interface Task {
  /** Time-sortable id (`task_` + 26 Crockford base-32 characters); newer tasks sort after older ones. */
  id: string;
  goal: string;
  /** Free-form JSON input handed to the planner (a scripted planner reads its plan here). */
  input: unknown;
  /** Name of the planner (its plugin id) that drives this task. */
  planner: string;
  /** Name of the memory (its plugin id) that keeps the session's messages. */
  memory: string;
  /** Conversation the task belongs to; tasks of one session share memory. Defaults to the task id. */
  sessionId: string;
  status: TaskStatus;
  output?: unknown;
  error?: TaskError;
  /** Attempts started so far (1 while the first attempt runs). */
  attempts: number;
  maxAttempts: number;
  /** Per-attempt deadline in milliseconds. */
  timeoutMs: number;
  maxSteps: number;
  /** Higher runs first. 0 is normal; range -10..10. */
  priority: number;
  idempotencyKey?: string;
  /** Hash of the submitted request, to refuse an idempotency key reused with a different payload. */
  requestHash?: string;
  labels: Record<string, string>;
  /** The task is not started before this time. */
  notBefore?: string;
  /** Set when cancellation was asked for while the task was running. */
  cancelRequested: boolean;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** What a caller submits. Everything but `goal` has a default. */
export interface SubmitTaskRequest {
  goal: string;
  input?: unknown;
  planner?: string;
  memory?: string;
  sessionId?: string;
  labels?: Record<string, string>;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  maxSteps?: number;
  notBefore?: string;
  idempotencyKey?: string;
}

export const TASK_EVENT_TYPES = [
  'status', // { status, attempt, error? }
  'plan', // { step, thought?, calls: [{ id, tool, arguments }] }
  'tool_call', // { step, id, tool, arguments }
  'tool_result', // { step, id, tool, ok, output? , error? , durationMs }
  'final', // { output }
  'log', // { level, message, source, data? }
] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

export interface TaskEvent {
  taskId: string;
  /** 1, 2, 3… per task, in the order the events were appended. */
  seq: number;
  type: TaskEventType;
  at: string;
  data: Record<string, unknown>;
}

export interface TaskQuery {
  status?: TaskStatus[];
  /** Every label given must match exactly. */
  labels?: Record<string, string>;
  /** 1..500, default 50. */
  limit?: number;
  /** Opaque; the `nextCursor` of the previous page. */
  cursor?: string;
}

export interface TaskPage {
  tasks: Task[];
  /** Absent on the last page. */
  nextCursor?: string;
}
