import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  asTaskEvent,
  ErrorCodes,
  OpspawnError,
  resolveTaskQuery,
  taskPage,
  type HealthCheckResult,
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
import { MIGRATIONS } from './migrations.js';
import { SqliteScheduleStore } from './sqlite-schedule-store.js';

export interface SqliteStoreOptions {
  /** Database file, relative to the working directory; `:memory:` for a private in-memory database. */
  path: string;
  /** How long a write waits for another process's lock. */
  busyTimeoutMs: number;
}

type Row = Record<string, any>;

/**
 * Most writes one group commit takes. Each write's promise settles when its transaction commits, and the tasks
 * waiting on them then run their next steps in the same turn of the event loop: 5,000 tasks whose model calls
 * return together made turns of 1.5 s (ADR 0024, round 2). 100 keeps a turn short and still shares each commit.
 */
const GROUP_COMMIT_MAX = 100;

type EventToAppend = { type: TaskEventType; data: Record<string, unknown> };

/**
 * The embedded default store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so each method is
 * one statement or one transaction that no other call can interleave with; transitions are a single
 * conditional UPDATE, which also gives one winner when several processes share the file.
 */
export class SqliteTaskStore implements TaskStore {
  private readonly stmt: ReturnType<SqliteTaskStore['prepare']>;
  private readonly pendingWrites: Array<{
    op: () => unknown;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }> = [];
  /** Statements built from a query's shape (transitions, filters), prepared once per shape. */
  private readonly cache = new Map<string, Database.Statement>();
  /** The group commit's transactions, built once: `db.transaction` wraps a function anew on each call. */
  private readonly commitBatch: (batch: ReadonlyArray<{ op: () => unknown }>) => unknown[];
  /** The same with each write in a savepoint: a batch in which a write threw is run again with it. */
  private readonly commitEach: (batch: ReadonlyArray<{ op: () => unknown }>) => unknown[];
  readonly schedules: SqliteScheduleStore;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.stmt = this.prepare();
    this.commitBatch = db.transaction(runAll);
    this.commitEach = db.transaction(runEach(db));
    this.schedules = new SqliteScheduleStore(db);
  }

  /** A relative `path` is taken from `baseDir`: the plugin passes the config file's folder. */
  static open(options: SqliteStoreOptions, baseDir = process.cwd()): SqliteTaskStore {
    const path = options.path === ':memory:' ? ':memory:' : resolve(baseDir, options.path);
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: options.busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
    } catch (error) {
      throw new OpspawnError(
        ErrorCodes.PLUGIN_START_FAILED,
        `cannot open the SQLite database ${path}: ${(error as Error).message}`,
        {
          plugin: 'store-sqlite',
          hint: 'check that the path is writable and is an SQLite file (options.path)',
          cause: error,
        },
      );
    }
    return new SqliteTaskStore(db, path);
  }

  private cached(sql: string): Database.Statement {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    while (this.pendingWrites.length > 0) this.flushWrites();
    if (this.db.open) this.db.close();
  }

  health(): HealthCheckResult {
    try {
      this.db.prepare('SELECT 1').get();
      return { state: 'ok', detail: this.path };
    } catch (error) {
      return { state: 'down', detail: (error as Error).message };
    }
  }

  private prepare() {
    const db = this.db;
    return {
      // Positional parameters: binding 28 named ones costs ~3 µs more a row (ADR 0022, round 2).
      insert: db.prepare(`INSERT INTO tasks (${TASK_COLUMNS.join(', ')})
        VALUES (${TASK_COLUMNS.map(() => '?').join(', ')})
        ON CONFLICT (idempotency_key) DO NOTHING`),
      insertLabel: db.prepare('INSERT INTO task_labels (task_id, key, value) VALUES (?, ?, ?)'),
      byId: db.prepare('SELECT * FROM tasks WHERE id = ?'),
      byKey: db.prepare('SELECT * FROM tasks WHERE idempotency_key = ?'),
      bumpSeq: db.prepare('UPDATE tasks SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq'),
      insertEvent: db.prepare('INSERT INTO task_events (task_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?)'),
      // Rows as arrays of the columns an event needs: every watcher makes this read, and building a keyed row object
      // per event cost more than the read itself (ADR 0022, round 3).
      events: db
        .prepare('SELECT seq, type, at, data FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?')
        .raw(true),
      // Changes when another connection commits to the file, never for this connection's own commits.
      dataVersion: db.prepare('PRAGMA data_version').pluck(true),
      requestCancel: db.prepare(
        "UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status IN ('queued', 'running') RETURNING *",
      ),
    };
  }

  create(task: Task): Promise<{ task: Task; created: boolean }> {
    return this.write(() => this.insertTask(task, 0));
  }

  /**
   * A new task and its first event in one transaction: a crash never leaves one without the other. The row is
   * written with its `last_seq` already 1, so the event costs one INSERT.
   */
  createWithEvent(task: Task, event: EventToAppend): Promise<{ task: Task; created: boolean; event?: TaskEvent }> {
    return this.write(() => {
      const result = this.insertTask(task, 1);
      return result.created ? { ...result, event: this.insertEvents(task.id, 1, [event])[0] } : result;
    });
  }

  private insertTask(task: Task, lastSeq: number): { task: Task; created: boolean } {
    const info = this.stmt.insert.run(taskValues(task, lastSeq));
    if (info.changes === 0) return { task: toTask(this.stmt.byKey.get(task.idempotencyKey) as Row), created: false };
    for (const [k, v] of Object.entries(task.labels ?? {})) this.stmt.insertLabel.run(task.id, k, v);
    // What `get` would read back (JSON columns, no undefined fields), and faster to make than structuredClone.
    return { task: JSON.parse(JSON.stringify(task)) as Task, created: true };
  }

  async get(id: string): Promise<Task | undefined> {
    const row = this.stmt.byId.get(id) as Row | undefined;
    return row && toTask(row);
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const q = resolveTaskQuery(query);
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.status) {
      where.push(`status IN (${q.status.map(() => '?').join(',')})`);
      params.push(...q.status);
    }
    for (const [k, v] of Object.entries(q.labels ?? {})) {
      where.push('id IN (SELECT task_id FROM task_labels WHERE key = ? AND value = ?)');
      params.push(k, v);
    }
    if (q.parentId !== undefined) {
      where.push('parent_id = ?');
      params.push(q.parentId);
    }
    if (q.before !== undefined) {
      where.push('id < ?');
      params.push(q.before);
    }
    const rows = this.cached(
      `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    ).all(...params, q.limit + 1) as Row[];
    return taskPage(rows.slice(0, q.limit).map(toTask), rows.length > q.limit, q);
  }

  transition(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts?: number,
  ): Promise<Task | undefined> {
    const update = this.transitionUpdate(id, from, change, expectAttempts, 0);
    return this.write(() => {
      const row = update();
      return row && toTask(row);
    });
  }

  /**
   * The transition and its event in one transaction. A SIGKILL between a status change and its event would
   * otherwise leave a finished task without its final event (the embedded recovery test caught it).
   */
  async transitionWithEvent(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    event: EventToAppend,
  ): Promise<{ task: Task; event: TaskEvent } | undefined> {
    const moved = await this.transitionWithEvents(id, from, change, expectAttempts, [event]);
    return moved && { task: moved.task, event: moved.events[0]! };
  }

  /**
   * The transition and its events in one transaction. The UPDATE that moves the task also reserves the events'
   * seqs (`last_seq`), so each event costs one INSERT.
   */
  transitionWithEvents(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    events: readonly EventToAppend[],
  ): Promise<{ task: Task; events: TaskEvent[] } | undefined> {
    const update = this.transitionUpdate(id, from, change, expectAttempts, events.length);
    return this.write(() => {
      const row = update();
      return row && { task: toTask(row), events: this.insertEvents(id, row.last_seq as number, events) };
    });
  }

  /** The conditional UPDATE of a transition, prepared now, run inside a write; it adds `reserve` to `last_seq`. */
  private transitionUpdate(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    reserve: number,
  ): () => Row | undefined {
    const sets = ['status = ?', 'updated_at = ?'];
    const values: unknown[] = [change.status, new Date().toISOString()];
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if ('output' in change) set('output', json(change.output));
    if ('error' in change) set('error', change.error === null ? null : json(change.error));
    if (change.attempts !== undefined) set('attempts', change.attempts);
    if ('startedAt' in change) set('started_at', change.startedAt ?? null);
    if ('finishedAt' in change) set('finished_at', change.finishedAt ?? null);
    if ('leaseExpiresAt' in change) set('lease_expires_at', change.leaseExpiresAt ?? null);
    if ('notBefore' in change) set('not_before', change.notBefore ?? null);
    if (change.cancelRequested !== undefined) set('cancel_requested', change.cancelRequested ? 1 : 0);
    if (change.usage !== undefined) set('usage', json(change.usage));
    if (reserve > 0) sets.push(`last_seq = last_seq + ${reserve}`);
    let where = `id = ? AND status IN (${from.map(() => '?').join(',')})`;
    values.push(id, ...from);
    if (expectAttempts !== undefined) {
      where += ' AND attempts = ?';
      values.push(expectAttempts);
    }
    const statement = this.cached(`UPDATE tasks SET ${sets.join(', ')} WHERE ${where} RETURNING *`);
    return () => statement.get(...values) as Row | undefined;
  }

  requestCancel(id: string): Promise<Task | undefined> {
    const at = new Date().toISOString();
    return this.write(() => {
      const row = this.stmt.requestCancel.get(at, id) as Row | undefined;
      return row && toTask(row);
    });
  }

  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    return (await this.appendEvents(taskId, [{ type, data }]))[0]!;
  }

  /** One UPDATE reserves the events' seqs, then one INSERT each, in the same transaction. */
  appendEvents(taskId: string, events: readonly EventToAppend[]): Promise<TaskEvent[]> {
    return this.write(() => {
      const bumped = this.stmt.bumpSeq.get(events.length, taskId) as { last_seq: number } | undefined;
      if (!bumped) throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `task ${taskId} does not exist`);
      return this.insertEvents(taskId, bumped.last_seq, events);
    });
  }

  /** Inserts `events` with the seqs up to `lastSeq`, already reserved on the task row; runs inside a write. */
  private insertEvents(taskId: string, lastSeq: number, events: readonly EventToAppend[]): TaskEvent[] {
    const at = new Date().toISOString();
    let seq = lastSeq - events.length;
    return events.map(({ type, data }) => {
      const text = JSON.stringify(data);
      this.stmt.insertEvent.run(taskId, ++seq, type, at, text);
      return asTaskEvent({ taskId, seq, type, at, data: JSON.parse(text) as Record<string, unknown> });
    });
  }

  /**
   * Group commit: writes made in the same turn of the event loop run, in order, in one transaction at the end
   * of it (up to `GROUP_COMMIT_MAX`; the rest in the next turns). Each promise settles after the transaction
   * commits, so a resolved write is as durable as a transaction of its own, and many concurrent tasks share one WAL
   * commit. A failing write fails alone, and leaves none of its statements behind: a batch in which a write throws is
   * rolled back and run again with each write in a savepoint. Writes do not throw on the engine's path, so it pays
   * for no savepoint (ADR 0022, round 2).
   */
  private write<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pendingWrites.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (this.pendingWrites.length === 1) setImmediate(() => this.flushWrites());
    });
  }

  private flushWrites(): void {
    const batch = this.pendingWrites.splice(0, GROUP_COMMIT_MAX);
    // Already committed by close().
    if (batch.length === 0) return;
    // The rest commit in the next turn: timers and sockets get theirs between.
    if (this.pendingWrites.length > 0) setImmediate(() => this.flushWrites());
    let results: unknown[];
    try {
      try {
        results = this.commitBatch(batch);
      } catch (error) {
        if (!(error instanceof FailedWrite)) throw error;
        results = this.commitEach(batch);
      }
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => {
      const r = results[i];
      if (r instanceof FailedWrite) w.reject(r.error);
      else w.resolve(r);
    });
  }

  async events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const rows = this.stmt.events.all(taskId, afterSeq, limit) as Array<[number, TaskEventType, string, string]>;
    return rows.map(([seq, type, at, data]) => ({ taskId, seq, type, at, data: JSON.parse(data) }) as TaskEvent);
  }

  /** SQLite's `data_version`: what another process or connection commits to the file changes it (ADR 0022). */
  foreignWrites(): number {
    return this.stmt.dataVersion.get() as number;
  }

  async findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]> {
    const rows = this.cached(
      `SELECT * FROM tasks WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY id LIMIT ?`,
    ).all(...statuses, limit) as Row[];
    return rows.map(toTask);
  }
  async renewLeases(ids: readonly string[], until: string): Promise<number> {
    if (ids.length === 0) return 0;
    const info = this.db
      .prepare(
        `UPDATE tasks SET lease_expires_at = ? WHERE status = 'running' AND id IN (${ids.map(() => '?').join(',')})`,
      )
      .run(until, ...ids);
    return info.changes;
  }

  async deleteFinished(rule: RetentionRule): Promise<number> {
    // Events and labels go with their task (ON DELETE CASCADE); the (status, id) index finds the oldest first.
    const info = this.cached(
      `DELETE FROM tasks WHERE id IN (
         SELECT id FROM tasks WHERE status = @status
           AND ((@before IS NOT NULL AND finished_at < @before)
             OR (@keep IS NOT NULL AND id <= (SELECT id FROM tasks WHERE status = @status ORDER BY id DESC LIMIT 1 OFFSET @keep)))
         ORDER BY id LIMIT @limit)`,
    ).run({
      status: rule.status,
      before: rule.finishedBefore ?? null,
      keep: rule.keepNewest ?? null,
      limit: rule.limit,
    });
    return info.changes;
  }
}

/** A write of a batch that threw: it fails alone, the others commit. */
class FailedWrite {
  constructor(readonly error: unknown) {}
}

/**
 * Runs the writes of a batch one after another in the batch's transaction. The first that throws rolls the whole
 * transaction back (thrown as a `FailedWrite`); the batch is then run again by `runEach`. A write is a function of
 * values taken when it was made, so running it again after the rollback does the same.
 */
function runAll(batch: ReadonlyArray<{ op: () => unknown }>): unknown[] {
  return batch.map((w) => {
    try {
      return w.op();
    } catch (error) {
      throw new FailedWrite(error);
    }
  });
}

/**
 * Runs each write of a batch inside the batch's transaction, each in a savepoint: a write that throws is rolled back
 * alone (a transition whose event fails leaves no move behind) and becomes a `FailedWrite`.
 */
function runEach(db: Database.Database): (batch: ReadonlyArray<{ op: () => unknown }>) => unknown[] {
  const begin = db.prepare('SAVEPOINT write');
  const release = db.prepare('RELEASE write');
  const undo = db.prepare('ROLLBACK TO write');
  return (batch) =>
    batch.map((w) => {
      begin.run();
      try {
        const value = w.op();
        release.run();
        return value;
      } catch (error) {
        undo.run();
        release.run();
        return new FailedWrite(error);
      }
    });
}

function migrate(db: Database.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const done = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version),
  );
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    }).immediate();
  }
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function parse(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/** The columns of a task row in the order `taskValues` gives them. */
const TASK_COLUMNS = [
  'id',
  'goal',
  'input',
  'planner',
  'memory',
  'session_id',
  'status',
  'output',
  'error',
  'attempts',
  'max_attempts',
  'timeout_ms',
  'max_steps',
  'priority',
  'idempotency_key',
  'request_hash',
  'labels',
  'not_before',
  'cancel_requested',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'lease_expires_at',
  'agent',
  'parent_id',
  'usage',
  'last_seq',
] as const;

/** A new task's row, in the order of `TASK_COLUMNS`. */
function taskValues(t: Task, lastSeq: number): unknown[] {
  return [
    t.id,
    t.goal,
    json(t.input),
    t.planner,
    t.memory,
    t.sessionId,
    t.status,
    json(t.output),
    json(t.error),
    t.attempts,
    t.maxAttempts,
    t.timeoutMs,
    t.maxSteps,
    t.priority,
    t.idempotencyKey ?? null,
    t.requestHash ?? null,
    JSON.stringify(t.labels ?? {}),
    t.notBefore ?? null,
    t.cancelRequested ? 1 : 0,
    t.createdAt,
    t.updatedAt,
    t.startedAt ?? null,
    t.finishedAt ?? null,
    t.leaseExpiresAt ?? null,
    t.agent ?? null,
    t.parentId ?? null,
    t.usage ? json(t.usage) : null,
    lastSeq,
  ];
}

function toTask(r: Row): Task {
  const task: Task = {
    id: r.id,
    goal: r.goal,
    input: parse(r.input) ?? null,
    planner: r.planner,
    memory: r.memory,
    sessionId: r.session_id,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    timeoutMs: r.timeout_ms,
    maxSteps: r.max_steps,
    priority: r.priority,
    labels: JSON.parse(r.labels),
    cancelRequested: r.cancel_requested === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.output !== null) task.output = parse(r.output);
  if (r.error !== null) task.error = parse(r.error) as Task['error'];
  if (r.idempotency_key !== null) task.idempotencyKey = r.idempotency_key;
  if (r.request_hash !== null) task.requestHash = r.request_hash;
  if (r.not_before !== null) task.notBefore = r.not_before;
  if (r.started_at !== null) task.startedAt = r.started_at;
  if (r.finished_at !== null) task.finishedAt = r.finished_at;
  if (r.lease_expires_at !== null) task.leaseExpiresAt = r.lease_expires_at;
  if (r.agent !== null) task.agent = r.agent;
  if (r.parent_id !== null) task.parentId = r.parent_id;
  if (r.usage !== null) task.usage = parse(r.usage) as Task['usage'];
  return task;
}
