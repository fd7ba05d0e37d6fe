import pg from 'pg';
import {
  ErrorCodes, OpspawnError, decodeTaskCursor, encodeTaskCursor, pageLimit, type HealthCheckResult, type Task, type TaskChange, type TaskEvent, type TaskEventType,
  type TaskPage, type TaskQuery, type TaskStatus, type TaskStore,
} from '@opspawn/plugin-sdk';
import { MIGRATIONS } from './migrations.js';

export interface PostgresStoreOptions {
  /** postgres:// URL; use `${DATABASE_URL}` in the config. */
  connectionString: string;
  /** Connections this process keeps open at most. */
  poolSize: number;
  /** Schema holding the tables; created if missing. */
  schema: string;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

type Row = Record<string, any>;

/**
 * Tasks in PostgreSQL, shared by API and worker processes. Transitions are one conditional UPDATE, so two workers
 * racing for a task get exactly one winner; event seqs come from a counter on the task row bumped in the same
 * statement that inserts the event.
 */
export class PostgresTaskStore implements TaskStore {
  private constructor(private readonly pool: pg.Pool, private readonly s: string) {}

  static async open(options: PostgresStoreOptions): Promise<PostgresTaskStore> {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new OpspawnError(ErrorCodes.PLUGIN_START_FAILED, `schema '${options.schema}' is not a plain lowercase SQL identifier`, { plugin: 'store-postgres', hint: 'use letters, digits and _' });
    }
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
    });
    // An idle client's error (a restarted server) must not crash the host; the pool replaces the client.
    pool.on('error', () => undefined);
    const store = new PostgresTaskStore(pool, `"${options.schema}"`);
    try {
      await store.migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new OpspawnError(ErrorCodes.PLUGIN_START_FAILED, `cannot use PostgreSQL at ${redact(options.connectionString)}: ${(error as Error).message}`, {
        plugin: 'store-postgres', hint: 'check connectionString, that the server runs and the database exists', cause: error,
      });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('opspawn_migrations'))");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.s}.opspawn_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query(`SELECT version FROM ${this.s}.opspawn_schema_migrations`)).rows.map((r: Row) => r.version as number));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query(m.sql(this.s));
        await client.query(`INSERT INTO ${this.s}.opspawn_schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async health(): Promise<HealthCheckResult> {
    try {
      await this.pool.query('SELECT 1');
      return { state: 'ok', detail: `${this.pool.totalCount} connections, ${this.pool.waitingCount} waiting` };
    } catch (error) {
      return { state: 'down', detail: (error as Error).message };
    }
  }

  async create(task: Task): Promise<{ task: Task; created: boolean }> {
    const { insert, values } = insertTask(this.s, task, 0);
    const inserted = await this.pool.query(`${insert} RETURNING *`, values);
    if (inserted.rows[0]) return { task: toTask(inserted.rows[0]), created: true };
    return { task: await this.byIdempotencyKey(task.idempotencyKey!), created: false };
  }

  /** The task's INSERT and its first event's in one statement. */
  async createWithEvent(task: Task, event: { type: TaskEventType; data: Record<string, unknown> }): Promise<{ task: Task; created: boolean; event?: TaskEvent }> {
    const { insert, values } = insertTask(this.s, task, 1);
    const at = new Date().toISOString();
    values.push(event.type, at, JSON.stringify(event.data));
    const n = values.length;
    const { rows } = await this.pool.query(
      `WITH inserted AS (${insert} RETURNING *),
       appended AS (INSERT INTO ${this.s}.opspawn_task_events (task_id, seq, type, at, data) SELECT id, 1, $${n - 2}, $${n - 1}, $${n} FROM inserted)
       SELECT * FROM inserted`,
      values,
    );
    if (!rows[0]) return { task: await this.byIdempotencyKey(task.idempotencyKey!), created: false };
    return { task: toTask(rows[0]), created: true, event: { taskId: task.id, seq: 1, type: event.type, at, data: event.data } };
  }

  private async byIdempotencyKey(key: string): Promise<Task> {
    const existing = await this.pool.query(`SELECT * FROM ${this.s}.opspawn_tasks WHERE idempotency_key = $1`, [key]);
    return toTask(existing.rows[0]);
  }

  async get(id: string): Promise<Task | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.s}.opspawn_tasks WHERE id = $1`, [id]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async list(query: TaskQuery): Promise<TaskPage> {
    const limit = pageLimit(query.limit);
    const after = query.cursor === undefined ? null : decodeTaskCursor(query.cursor);
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.s}.opspawn_tasks
       WHERE ($1::text[] IS NULL OR status = ANY($1)) AND labels @> $2::jsonb AND ($3::text IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [query.status?.length ? query.status : null, JSON.stringify(query.labels ?? {}), after, limit + 1],
    );
    const tasks = rows.slice(0, limit).map(toTask);
    return rows.length > limit ? { tasks, nextCursor: encodeTaskCursor(tasks[tasks.length - 1]!.id) } : { tasks };
  }

  async transition(id: string, from: readonly TaskStatus[], change: TaskChange, expectAttempts?: number): Promise<Task | undefined> {
    const { update, values } = this.transitionUpdate(id, from, change, expectAttempts);
    const { rows } = await this.pool.query(`${update} RETURNING *`, values);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /** The conditional UPDATE and its event's INSERT in one statement: both happen, or neither. */
  async transitionWithEvent(
    id: string, from: readonly TaskStatus[], change: TaskChange, expectAttempts: number | undefined,
    event: { type: TaskEventType; data: Record<string, unknown> },
  ): Promise<{ task: Task; event: TaskEvent } | undefined> {
    const { update, values } = this.transitionUpdate(id, from, change, expectAttempts, true);
    const at = new Date().toISOString();
    values.push(event.type, at, JSON.stringify(event.data));
    const n = values.length;
    const { rows } = await this.pool.query(
      `WITH moved AS (${update} RETURNING *),
       appended AS (INSERT INTO ${this.s}.opspawn_task_events (task_id, seq, type, at, data) SELECT id, last_seq, $${n - 2}, $${n - 1}, $${n} FROM moved RETURNING seq)
       SELECT moved.*, (SELECT seq FROM appended) AS event_seq FROM moved`,
      values,
    );
    if (!rows[0]) return undefined;
    return { task: toTask(rows[0]), event: { taskId: id, seq: rows[0].event_seq as number, type: event.type, at, data: event.data } };
  }

  private transitionUpdate(id: string, from: readonly TaskStatus[], change: TaskChange, expectAttempts: number | undefined, bumpSeq = false): { update: string; values: unknown[] } {
    const sets = ['status = $3', 'updated_at = $4'];
    if (bumpSeq) sets.push('last_seq = last_seq + 1');
    const values: unknown[] = [id, [...from], change.status, new Date().toISOString()];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if ('output' in change) set('output', json(change.output));
    if ('error' in change) set('error', change.error === null ? null : json(change.error));
    if (change.attempts !== undefined) set('attempts', change.attempts);
    if ('startedAt' in change) set('started_at', change.startedAt ?? null);
    if ('finishedAt' in change) set('finished_at', change.finishedAt ?? null);
    if ('notBefore' in change) set('not_before', change.notBefore ?? null);
    if (change.cancelRequested !== undefined) set('cancel_requested', change.cancelRequested);
    let where = 'id = $1 AND status = ANY($2)';
    if (expectAttempts !== undefined) {
      values.push(expectAttempts);
      where += ` AND attempts = $${values.length}`;
    }
    return { update: `UPDATE ${this.s}.opspawn_tasks SET ${sets.join(', ')} WHERE ${where}`, values };
  }

  async requestCancel(id: string): Promise<Task | undefined> {
    const { rows } = await this.pool.query(
      `UPDATE ${this.s}.opspawn_tasks SET cancel_requested = true, updated_at = $2 WHERE id = $1 AND status IN ('queued', 'running') RETURNING *`,
      [id, new Date().toISOString()],
    );
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    const at = new Date().toISOString();
    const { rows } = await this.pool.query(
      `WITH bumped AS (UPDATE ${this.s}.opspawn_tasks SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
       INSERT INTO ${this.s}.opspawn_task_events (task_id, seq, type, at, data) SELECT $1, last_seq, $2, $3, $4 FROM bumped RETURNING seq`,
      [taskId, type, at, JSON.stringify(data)],
    );
    if (!rows[0]) throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `task ${taskId} does not exist`);
    return { taskId, seq: rows[0].seq as number, type, at, data };
  }

  async events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const { rows } = await this.pool.query(
      `SELECT task_id, seq, type, at, data FROM ${this.s}.opspawn_task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [taskId, afterSeq, limit],
    );
    return rows.map((r: Row) => ({ taskId: r.task_id, seq: r.seq, type: r.type, at: r.at, data: r.data }));
  }

  async findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]> {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.s}.opspawn_tasks WHERE status = ANY($1) ORDER BY id LIMIT $2`, [[...statuses], limit]);
    return rows.map(toTask);
  }
}

/** The INSERT of a task (`ON CONFLICT` on the idempotency key does nothing), with `last_seq` preset. */
function insertTask(s: string, task: Task, lastSeq: number): { insert: string; values: unknown[] } {
  return {
    insert: `INSERT INTO ${s}.opspawn_tasks (id, goal, input, planner, memory, session_id, status, output, error, attempts, max_attempts,
         timeout_ms, max_steps, priority, idempotency_key, request_hash, labels, not_before, cancel_requested, created_at, updated_at, started_at, finished_at, last_seq)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
       ON CONFLICT (idempotency_key) DO NOTHING`,
    values: [task.id, task.goal, json(task.input), task.planner, task.memory, task.sessionId, task.status, json(task.output), json(task.error),
      task.attempts, task.maxAttempts, task.timeoutMs, task.maxSteps, task.priority, task.idempotencyKey ?? null, task.requestHash ?? null,
      JSON.stringify(task.labels ?? {}), task.notBefore ?? null, task.cancelRequested, task.createdAt, task.updatedAt, task.startedAt ?? null, task.finishedAt ?? null, lastSeq],
  };
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function toTask(r: Row): Task {
  const task: Task = {
    id: r.id, goal: r.goal, input: r.input, planner: r.planner, memory: r.memory, sessionId: r.session_id, status: r.status,
    attempts: r.attempts, maxAttempts: r.max_attempts, timeoutMs: Number(r.timeout_ms), maxSteps: r.max_steps, priority: r.priority,
    labels: r.labels ?? {}, cancelRequested: r.cancel_requested, createdAt: r.created_at, updatedAt: r.updated_at,
  };
  if (r.output !== null) task.output = r.output;
  if (r.error !== null) task.error = r.error;
  if (r.idempotency_key !== null) task.idempotencyKey = r.idempotency_key;
  if (r.request_hash !== null) task.requestHash = r.request_hash;
  if (r.not_before !== null) task.notBefore = r.not_before;
  if (r.started_at !== null) task.startedAt = r.started_at;
  if (r.finished_at !== null) task.finishedAt = r.finished_at;
  return task;
}



function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}
