import { contractTest, providerIndex, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function storeTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: 'Tasks and their events in process memory: a task store for tests and throwaway hosts.',
    options: [
      {
        name: 'maxEventsPerTask',
        schema: {
          type: 'integer',
          minimum: 1,
          default: 10000,
          description: 'Events kept per task; appending more is refused',
        },
      },
    ],
    readme: `Keeps tasks, their events and idempotency keys in a \`Map\`, so everything is lost when the process stops.
Replace \`src/map-task-store.ts\` with your database: the store contract suite in \`test/plugin.test.ts\` checks the
promises the task engine relies on (idempotent create, newest-first cursor pages, compare-and-set transitions,
gap-free event numbers).`,
    implementation: {
      file: 'map-task-store.ts',
      source: `import {
  ErrorCodes, OpspawnError, asTaskEvent, resolveTaskQuery, taskPage,
  type Task, type TaskChange, type TaskEvent, type TaskEventType, type TaskPage, type TaskQuery, type TaskStatus, type TaskStore,
} from '@opspawn/plugin-sdk';

export interface MapTaskStoreOptions {
  /** Events kept per task; appending more is refused. */
  maxEventsPerTask: number;
}

/** JSON in, JSON out: callers never share objects with the store. */
const copy = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

/**
 * Tasks in a Map. Each method finishes within one turn of the event loop, which is what makes \`transition\`
 * a compare-and-set and event numbers gap-free; a database store gets the same from transactions.
 */
export class MapTaskStore implements TaskStore {
  /** Insertion order is creation order: newest last. */
  private readonly tasks = new Map<string, { task: Task; events: TaskEvent[] }>();
  private readonly idempotencyKeys = new Map<string, string>();

  constructor(private readonly options: MapTaskStoreOptions) {}

  async create(task: Task): Promise<{ task: Task; created: boolean }> {
    const existing = task.idempotencyKey === undefined ? undefined : this.idempotencyKeys.get(task.idempotencyKey);
    if (existing) return { task: copy(this.tasks.get(existing)!.task), created: false };
    if (task.idempotencyKey !== undefined) this.idempotencyKeys.set(task.idempotencyKey, task.id);
    this.tasks.set(task.id, { task: copy(task), events: [] });
    return { task: copy(task), created: true };
  }

  async get(id: string): Promise<Task | undefined> {
    return copy(this.tasks.get(id)?.task);
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const q = resolveTaskQuery(query); // the cursor's filters, the page size, and where the last page ended
    const newestFirst = [...this.tasks.keys()].reverse();
    let from = 0;
    if (q.before !== undefined) {
      from = newestFirst.indexOf(q.before) + 1;
      if (from === 0) throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'cursor names no task of this store', { hint: 'pass nextCursor unchanged' });
    }
    const matches = newestFirst.slice(from).map((id) => this.tasks.get(id)!.task).filter((t) =>
      (!q.status || q.status.includes(t.status))
      && (q.parentId === undefined || t.parentId === q.parentId)
      && Object.entries(q.labels ?? {}).every(([k, v]) => t.labels[k] === v));
    return taskPage(matches.slice(0, q.limit).map(copy), matches.length > q.limit, q);
  }

  async transition(id: string, from: readonly TaskStatus[], change: TaskChange, expectAttempts?: number): Promise<Task | undefined> {
    const task = this.tasks.get(id)?.task;
    if (!task || !from.includes(task.status) || (expectAttempts !== undefined && task.attempts !== expectAttempts)) return undefined;
    // undefined leaves a field as it is; null clears it.
    for (const [field, value] of Object.entries(change)) {
      if (value === null) delete (task as unknown as Record<string, unknown>)[field];
      else if (value !== undefined) (task as unknown as Record<string, unknown>)[field] = copy(value);
    }
    task.updatedAt = new Date().toISOString();
    return copy(task);
  }

  async requestCancel(id: string): Promise<Task | undefined> {
    const task = this.tasks.get(id)?.task;
    if (!task || (task.status !== 'queued' && task.status !== 'running')) return undefined;
    task.cancelRequested = true;
    task.updatedAt = new Date().toISOString();
    return copy(task);
  }

  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    const entry = this.tasks.get(taskId);
    if (!entry) throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, \`task \${taskId} does not exist\`);
    if (entry.events.length >= this.options.maxEventsPerTask) {
      throw new OpspawnError(ErrorCodes.TASK_INTERNAL, \`task \${taskId} has \${entry.events.length} events, the most this store keeps\`, { hint: 'raise maxEventsPerTask' });
    }
    const event = asTaskEvent({ taskId, seq: entry.events.length + 1, type, at: new Date().toISOString(), data: copy(data) });
    entry.events.push(event);
    return copy(event);
  }

  async events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    return copy((this.tasks.get(taskId)?.events ?? []).filter((e) => e.seq > afterSeq).slice(0, limit));
  }

  async findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]> {
    return [...this.tasks.values()].map((e) => e.task).filter((t) => statuses.includes(t.status)).slice(0, limit).map(copy);
  }
}
`,
    },
    index: providerIndex({ point: 'store', className: 'MapTaskStore', module: 'map-task-store' }),
    test: contractTest(n, { kind: 'store', suite: 'storeContract', value: 'kernel.get(extensionPoints.store)' }),
  };
}
