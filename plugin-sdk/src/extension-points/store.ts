import type { Task, TaskPage, TaskQuery, TaskStatus } from '../task.js';
import type { TaskEvent, TaskEventType } from '../task-event.js';
import type { ScheduleStore } from './schedule-store.js';

/** Fields that change when a task moves between states. `updatedAt` is set by the store. */
export interface TaskChange {
  status: TaskStatus;
  output?: unknown;
  error?: Task['error'] | null;
  attempts?: number;
  startedAt?: string | null;
  finishedAt?: string | null;
  notBefore?: string | null;
  cancelRequested?: boolean;
  leaseExpiresAt?: string | null;
  /** The task's running total: replaces what was stored. */
  usage?: Task['usage'];
}

/**
 * Where tasks, their events and idempotency keys live: the source of truth for status and history.
 *
 * Promise: `transition` is an atomic compare-and-set, so with at-least-once delivery each task still reaches
 * exactly one final state; events of a task get gap-free increasing `seq` numbers; `list` pages newest first
 * with opaque cursors that stay valid while tasks are added and keep the filters of the first page (build them
 * with `resolveTaskQuery` and `taskPage`, so that cursors mean the same in every store).
 */
export interface TaskStore {
  /**
   * Inserts `task`, unless a task with the same `idempotencyKey` exists: then that task is returned with
   * `created: false` and nothing is written.
   */
  create(task: Task): Promise<{ task: Task; created: boolean }>;
  /**
   * Optional: `create` and, when the task is new, its first event (seq 1) in one atomic step and one round trip.
   * A replayed idempotency key appends nothing. The task engine uses it when present.
   */
  createWithEvent?(
    task: Task,
    event: { type: TaskEventType; data: Record<string, unknown> },
  ): Promise<{ task: Task; created: boolean; event?: TaskEvent }>;
  get(id: string): Promise<Task | undefined>;
  list(query: TaskQuery): Promise<TaskPage>;
  /**
   * Applies `change` only if the task's current status is one of `from` (and, when `expectAttempts` is given,
   * its attempts equal it). Returns the updated task, or `undefined` when the condition did not hold.
   */
  transition(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts?: number,
  ): Promise<Task | undefined>;
  /**
   * Optional: `transition` and `appendEvent` as one atomic step, so a status change and its event are written
   * together or not at all, in one round trip. Returns undefined (and appends nothing) when the condition did not
   * hold. The task engine uses it when present and otherwise makes the two calls.
   */
  transitionWithEvent?(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    event: { type: TaskEventType; data: Record<string, unknown> },
  ): Promise<{ task: Task; event: TaskEvent } | undefined>;
  /**
   * Optional: `transition` and several events (in order, e.g. a `final` answer then the `status` event announcing the
   * move) as one atomic step and one round trip. Returns undefined, and appends nothing, when the condition did not
   * hold. The task engine prefers it to `transitionWithEvent`; without it, events that precede the status event are
   * appended before the move.
   */
  transitionWithEvents?(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<{ task: Task; events: TaskEvent[] } | undefined>;
  /** Marks a running task as asked to cancel; returns the task, or undefined if it is not running. */
  requestCancel(id: string): Promise<Task | undefined>;
  /** Appends an event with the next `seq` of the task. */
  appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent>;
  /**
   * Optional: several events of one task (a step's `plan` and its `tool_call`s) with consecutive `seq`s, in order,
   * all or none, in one round trip. The task engine uses it when present and otherwise appends them one by one.
   */
  appendEvents?(
    taskId: string,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<TaskEvent[]>;
  /** Events with `seq > afterSeq`, in order, at most `limit`. */
  events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]>;
  /**
   * Optional: a number that stays the same while everything written to the store's database goes through this
   * store object, and changes once another writer (another process, or another connection to the same file) may
   * have committed. The kernel publishes every event it writes through this object to its own watchers, so a
   * watcher that heard nothing for a while re-reads the store only when this changed since its last read. Without
   * it, watchers re-read every few seconds in case another process appended an event. Must be cheap: each waiting
   * watcher calls it once per poll.
   */
  foreignWrites?(): number;
  /** Tasks in the given statuses, oldest first: what recovery re-queues after a restart. */
  findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]>;
  /**
   * Optional, for retention: deletes at most `rule.limit` tasks in the final status `rule.status` that finished
   * before `rule.finishedBefore`, or are older than the `rule.keepNewest` newest tasks of that status (by id, that is
   * by submission), oldest first, with their events, labels and idempotency keys. Returns how many it deleted. The
   * kernel's retention job calls it in batches until it returns less than `limit`; without it, finished tasks are
   * kept forever (the kernel warns at start).
   */
  deleteFinished?(rule: RetentionRule): Promise<number>;
  /**
   * Optional, for leases: sets `leaseExpiresAt` to `until` on each of `ids` that is still `running`, in one
   * statement (a worker renews the leases of all its attempts at once). Returns how many it renewed. Without it,
   * the attempts of a worker that died are taken back at their deadline instead of when their lease runs out.
   */
  renewLeases?(ids: readonly string[], until: string): Promise<number>;
  /**
   * Optional: the schedules kept beside the tasks (see `ScheduleStore`). Without it, the deployment cannot declare
   * schedules (the boot refuses a config with some) and the schedule API answers SCHEDULES_UNSUPPORTED.
   */
  readonly schedules?: ScheduleStore;
}

/** One batch of a retention pass: which finished tasks a store deletes. */
export interface RetentionRule {
  status: 'succeeded' | 'failed' | 'cancelled';
  /** ISO-8601: tasks that finished before this time. */
  finishedBefore?: string;
  /** Tasks beyond the newest `keepNewest` of the status. */
  keepNewest?: number;
  limit: number;
}
