import {
  asTaskEvent,
  ErrorCodes,
  OpspawnError,
  resolveTaskQuery,
  taskPage,
  type RetentionRule,
  type Task,
  type TaskChange,
  type TaskEvent,
  type TaskEventType,
  type TaskPage,
  type TaskQuery,
  type TaskStatus,
  type TaskStore,
} from '@opspawn/plugin-sdk';
import { MemoryScheduleStore } from './memory-schedule-store.js';

/**
 * Tasks in process memory, for tests and throwaway runs: everything is lost when the process ends. Every method
 * runs synchronously inside one turn of the event loop, which makes transitions and event appends atomic.
 */
export class MemoryTaskStore implements TaskStore {
  readonly schedules = new MemoryScheduleStore();
  private readonly tasks = new Map<string, Task>();
  private readonly byKey = new Map<string, string>();
  private readonly eventLog = new Map<string, TaskEvent[]>();
  /** Ids in creation order; ids are time-sortable so this is also id order. */
  private readonly order: string[] = [];

  async create(task: Task): Promise<{ task: Task; created: boolean }> {
    if (task.idempotencyKey !== undefined) {
      const existing = this.byKey.get(task.idempotencyKey);
      if (existing) return { task: clone(this.tasks.get(existing)!), created: false };
      this.byKey.set(task.idempotencyKey, task.id);
    }
    this.tasks.set(task.id, clone(task));
    this.eventLog.set(task.id, []);
    insertSorted(this.order, task.id);
    return { task: clone(task), created: true };
  }

  async get(id: string): Promise<Task | undefined> {
    const task = this.tasks.get(id);
    return task && clone(task);
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const q = resolveTaskQuery(query);
    const out: Task[] = [];
    let more = false;
    for (let i = this.order.length - 1; i >= 0; i--) {
      const id = this.order[i]!;
      if (q.before !== undefined && id >= q.before) continue;
      const task = this.tasks.get(id)!;
      if (q.status && !q.status.includes(task.status)) continue;
      if (q.labels && !Object.entries(q.labels).every(([k, v]) => task.labels[k] === v)) continue;
      if (q.parentId !== undefined && task.parentId !== q.parentId) continue;
      if (out.length === q.limit) {
        more = true;
        break;
      }
      out.push(clone(task));
    }
    return taskPage(out, more, q);
  }

  async transition(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts?: number,
  ): Promise<Task | undefined> {
    return this.move(id, from, change, expectAttempts);
  }

  /** The move and its events with no await in between: atomic, like every method here. */
  async transitionWithEvents(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<{ task: Task; events: TaskEvent[] } | undefined> {
    // Copied first: data that is not JSON is refused before the task moves.
    const copies = events.map(({ type, data }) => ({ type, data: clone(data) }));
    const task = this.move(id, from, change, expectAttempts);
    return task && { task, events: this.append(id, copies) };
  }

  private move(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
  ): Task | undefined {
    const task = this.tasks.get(id);
    if (!task || !from.includes(task.status)) return undefined;
    if (expectAttempts !== undefined && task.attempts !== expectAttempts) return undefined;
    applyChange(task, change);
    return clone(task);
  }

  async requestCancel(id: string): Promise<Task | undefined> {
    const task = this.tasks.get(id);
    if (!task || (task.status !== 'queued' && task.status !== 'running')) return undefined;
    task.cancelRequested = true;
    task.updatedAt = new Date().toISOString();
    return clone(task);
  }

  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    return this.append(taskId, [{ type, data }])[0]!;
  }

  async appendEvents(
    taskId: string,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<TaskEvent[]> {
    return this.append(taskId, events);
  }

  private append(
    taskId: string,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): TaskEvent[] {
    const log = this.eventLog.get(taskId);
    if (!log) throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `task ${taskId} does not exist`);
    const at = new Date().toISOString();
    // Copied first, so data that is not JSON fails the whole append before any of it is stored.
    const copies = events.map(({ type, data }) => ({ type, data: clone(data) }));
    return copies.map(({ type, data }) => {
      const event = asTaskEvent({ taskId, seq: log.length + 1, type, at, data });
      log.push(event);
      return clone(event);
    });
  }

  async events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    return (this.eventLog.get(taskId) ?? []).slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit).map(clone);
  }

  async findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]> {
    const out: Task[] = [];
    for (const id of this.order) {
      const task = this.tasks.get(id)!;
      if (statuses.includes(task.status)) out.push(clone(task));
      if (out.length >= limit) break;
    }
    return out;
  }
  async renewLeases(ids: readonly string[], until: string): Promise<number> {
    let renewed = 0;
    for (const id of ids) {
      const task = this.tasks.get(id);
      if (task?.status !== 'running') continue;
      task.leaseExpiresAt = until;
      renewed++;
    }
    return renewed;
  }

  async deleteFinished(rule: RetentionRule): Promise<number> {
    const ofStatus = this.order.filter((id) => this.tasks.get(id)!.status === rule.status);
    // The first `beyondKept` of the status (oldest first) are past the newest `keepNewest`.
    const beyondKept = rule.keepNewest === undefined ? 0 : ofStatus.length - rule.keepNewest;
    const doomed = ofStatus
      .filter((id, index) => {
        const finishedAt = this.tasks.get(id)!.finishedAt;
        const expired =
          rule.finishedBefore !== undefined && finishedAt !== undefined && finishedAt < rule.finishedBefore;
        return expired || index < beyondKept;
      })
      .slice(0, rule.limit);
    for (const id of doomed) this.forget(id);
    return doomed.length;
  }

  health(): { state: 'ok'; detail: string } {
    return { state: 'ok', detail: `${this.tasks.size} tasks in memory` };
  }

  private forget(id: string): void {
    const task = this.tasks.get(id)!;
    if (task.idempotencyKey !== undefined) this.byKey.delete(task.idempotencyKey);
    this.tasks.delete(id);
    this.eventLog.delete(id);
    this.order.splice(this.order.indexOf(id), 1);
  }
}

/** Applies a change the way every store does: undefined leaves a field, null clears it. */
export function applyChange(task: Task, change: TaskChange): void {
  task.status = change.status;
  if ('output' in change) task.output = change.output;
  if ('error' in change) setOrClear(task, 'error', change.error);
  if (change.attempts !== undefined) task.attempts = change.attempts;
  if ('startedAt' in change) setOrClear(task, 'startedAt', change.startedAt);
  if ('finishedAt' in change) setOrClear(task, 'finishedAt', change.finishedAt);
  if ('leaseExpiresAt' in change) setOrClear(task, 'leaseExpiresAt', change.leaseExpiresAt);
  if ('notBefore' in change) setOrClear(task, 'notBefore', change.notBefore);
  if (change.cancelRequested !== undefined) task.cancelRequested = change.cancelRequested;
  if (change.usage !== undefined) task.usage = { ...change.usage };
  task.updatedAt = new Date().toISOString();
}

function setOrClear<K extends 'error' | 'startedAt' | 'finishedAt' | 'notBefore' | 'leaseExpiresAt'>(
  task: Task,
  key: K,
  value: Task[K] | null | undefined,
): void {
  if (value == null) delete task[key];
  else task[key] = value;
}

function insertSorted(ids: string[], id: string): void {
  if (ids.length === 0 || ids[ids.length - 1]! < id) {
    ids.push(id);
    return;
  }
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  ids.splice(lo, 0, id);
}

/** Tasks and events are JSON by contract; a JSON round trip copies them faster than structuredClone. */
function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
