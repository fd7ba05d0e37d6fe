import type pg from 'pg';
import {
  asTaskEvent,
  ErrorCodes,
  OpspawnError,
  TickBatch,
  redactUrl,
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
import { PostgresScheduleStore } from './postgres-schedule-store.js';
import { MIGRATIONS } from './migrations.js';
import { openStorePool } from './store-pool.js';

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
  readonly schedules: PostgresScheduleStore;
  private readonly moveStatement: string;
  private readonly createStatement: string;
  private readonly appendStatement: string;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
  ) {
    this.schedules = new PostgresScheduleStore(pool, s);
    this.moveStatement = moveStatement(s);
    this.createStatement = createStatement(s);
    this.appendStatement = appendStatement(s);
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresTaskStore> {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new OpspawnError(
        ErrorCodes.PLUGIN_START_FAILED,
        `schema '${options.schema}' is not a plain lowercase SQL identifier`,
        { plugin: 'store-postgres', hint: 'use letters, digits and _' },
      );
    }
    const pool = openStorePool({
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
      throw new OpspawnError(
        ErrorCodes.PLUGIN_START_FAILED,
        `cannot use PostgreSQL at ${redactUrl(options.connectionString)}: ${(error as Error).message}`,
        {
          plugin: 'store-postgres',
          hint: 'check connectionString, that the server runs and the database exists',
          cause: error,
        },
      );
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('opspawn_migrations'))");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.s}.opspawn_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set(
        (await client.query(`SELECT version FROM ${this.s}.opspawn_schema_migrations`)).rows.map(
          (r: Row) => r.version as number,
        ),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query(m.sql(this.s));
        await client.query(`INSERT INTO ${this.s}.opspawn_schema_migrations (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ]);
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
    const values = taskRow(task, 0);
    const inserted = await this.pool.query(
      `INSERT INTO ${this.s}.opspawn_tasks (${TASK_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(',')})
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
      values,
    );
    if (inserted.rows[0]) return { task: toTask(inserted.rows[0]), created: true };
    return { task: await this.byIdempotencyKey(task.idempotencyKey!), created: false };
  }

  /**
   * The task's INSERT and its first event's in one statement; submissions arriving in the same turn of the event
   * loop share one multi-row statement (one round trip for many API requests).
   */
  createWithEvent(
    task: Task,
    event: { type: TaskEventType; data: Record<string, unknown> },
  ): Promise<{ task: Task; created: boolean; event?: TaskEvent }> {
    return this.creates.add({ task, event });
  }

  private readonly creates = new TickBatch<
    { task: Task; event: { type: TaskEventType; data: Record<string, unknown> } },
    { task: Task; created: boolean; event?: TaskEvent }
  >((items) => this.createMany(items), 200);

  /** The tasks and their first events as one JSON document, through a named statement (see `createStatement`). */
  private async createMany(
    items: Array<{ task: Task; event: { type: TaskEventType; data: Record<string, unknown> } }>,
  ): Promise<Array<{ task: Task; created: boolean; event?: TaskEvent }>> {
    const at = new Date().toISOString();
    // In idempotency-key order: two processes inserting the same keys wait on each other's uncommitted rows in the
    // order they insert them, so one order everywhere keeps them from deadlocking.
    const doc = [...items]
      .sort((a, b) => compareKeys(a.task.idempotencyKey, b.task.idempotencyKey))
      .map(({ task, event }) => ({ task: taskDoc(task, 1), type: event.type, data: event.data }));
    const { rows: inserted } = await this.pool.query({
      name: `opspawn-create-${this.s}`,
      text: this.createStatement,
      values: [JSON.stringify(doc), at],
    });
    const created = new Set(inserted.map((r: Row) => r.id as string));
    return Promise.all(
      items.map(async ({ task, event }) => {
        if (!created.has(task.id)) return { task: await this.byIdempotencyKey(task.idempotencyKey!), created: false };
        return {
          // The row is the task as given: answering with it spares reading back and parsing every column of every
          // new row (what `get` would read back, JSON values included, without undefined fields).
          task: JSON.parse(JSON.stringify(task)) as Task,
          created: true,
          event: asTaskEvent({ taskId: task.id, seq: 1, type: event.type, at, data: event.data }),
        };
      }),
    );
  }

  private async byIdempotencyKey(key: string): Promise<Task> {
    const existing = await this.pool.query(`SELECT * FROM ${this.s}.opspawn_tasks WHERE idempotency_key = $1`, [key]);
    return toTask(existing.rows[0]);
  }

  /** Reads made in one turn of the event loop share one query. */
  get(id: string): Promise<Task | undefined> {
    return this.gets.add(id);
  }

  private readonly gets = new TickBatch<string, Task | undefined>(async (ids) => {
    const { rows } = await this.pool.query({
      name: `opspawn-get-${this.s}`,
      text: `SELECT ${TASK_COLUMNS} FROM ${this.s}.opspawn_tasks WHERE id = ANY($1)`,
      values: [[...new Set(ids)]],
    });
    const byId = new Map(rows.map((r: Row) => [r.id as string, r]));
    return ids.map((id) => {
      const row = byId.get(id);
      return row ? toTask(row) : undefined;
    });
  });

  async list(query: TaskQuery): Promise<TaskPage> {
    const q = resolveTaskQuery(query);
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.s}.opspawn_tasks
       WHERE ($1::text[] IS NULL OR status = ANY($1)) AND labels @> $2::jsonb AND ($3::text IS NULL OR id < $3)
         AND ($5::text IS NULL OR parent_id = $5)
       ORDER BY id DESC LIMIT $4`,
      [q.status ?? null, JSON.stringify(q.labels ?? {}), q.before ?? null, q.limit + 1, q.parentId ?? null],
    );
    return taskPage(rows.slice(0, q.limit).map(toTask), rows.length > q.limit, q);
  }

  async transition(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts?: number,
  ): Promise<Task | undefined> {
    const values: unknown[] = [];
    const update = transitionUpdate(this.s, values, { id, from, change, expectAttempts });
    const { rows } = await this.pool.query(`${update} RETURNING *`, values);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /**
   * The conditional UPDATE and its event's INSERT in one statement: both happen, or neither. Transitions made in
   * one turn of the event loop share one statement (one round trip for many tasks).
   */
  async transitionWithEvent(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    event: { type: TaskEventType; data: Record<string, unknown> },
  ): Promise<{ task: Task; event: TaskEvent } | undefined> {
    const moved = await this.transitionWithEvents(id, from, change, expectAttempts, [event]);
    return moved && { task: moved.task, event: moved.events[0]! };
  }

  /**
   * The conditional UPDATE and its events' INSERT in one statement: the move and all its events, or none of them.
   * The UPDATE reserves the events' seqs (`last_seq`), so a worker's answer (`final`, then `status`) costs one
   * round trip, shared with the other tasks moving in the same turn of the event loop.
   */
  transitionWithEvents(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<{ task: Task; events: TaskEvent[] } | undefined> {
    // Encoded now: data that is not JSON refuses this move alone, before it joins a statement.
    let encoded: EncodedEvent[];
    try {
      encoded = encodeEvents(events);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.moves.add({ id, from, change, expectAttempts, events: encoded });
  }

  private readonly moves = new TickBatch<Move, { task: Task; events: TaskEvent[] } | undefined>(
    (items) =>
      inRounds(
        items,
        (item) => item.id,
        (round) => this.moveMany(round),
      ),
    100,
  );

  /**
   * One UPDATE moves every task of the round and one INSERT writes their events, the moves and events passed as two
   * JSON documents: the statement's text is the same for any round, so each connection prepares it once (a named
   * statement) instead of parsing and planning a statement per batch.
   */
  private async moveMany(items: Move[]): Promise<Array<{ task: Task; events: TaskEvent[] } | undefined>> {
    const at = new Date().toISOString();
    const moves = items.map((item, i) =>
      JSON.stringify({
        i,
        id: item.id,
        from: item.from,
        attempts: item.expectAttempts ?? null,
        n: item.events.length,
        change: changeDoc(item.change),
      }),
    );
    const events = items.flatMap((item) => eventDocs(item.id, item.events));
    const { rows } = await this.pool.query({
      name: `opspawn-move-${this.s}`,
      text: this.moveStatement,
      values: [`[${moves.join(',')}]`, `[${events.join(',')}]`, at],
    });
    const byIndex = new Map(rows.map((r: Row) => [r.move_index as number, r]));
    return items.map((item, i) => {
      const row = byIndex.get(i);
      if (!row) return undefined;
      return { task: toTask(row), events: storedEvents(item.id, row.last_seq as number, at, item.events) };
    });
  }

  async requestCancel(id: string): Promise<Task | undefined> {
    const { rows } = await this.pool.query(
      `UPDATE ${this.s}.opspawn_tasks SET cancel_requested = true, updated_at = $2 WHERE id = $1 AND status IN ('queued', 'running') RETURNING *`,
      [id, new Date().toISOString()],
    );
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /**
   * Events appended in one turn of the event loop share one statement: each task's seq counter is bumped by the
   * number of its events and they are inserted with the seqs so reserved. An attempt's events (each step's plan
   * and tool calls) are most of a worker's writes, and with synchronous commit every statement waits for the WAL
   * to reach the disk.
   */
  async appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    return (await this.appendEvents(taskId, [{ type, data }]))[0]!;
  }

  /** Several events of one task with consecutive seqs, all or none, in the statement of this turn's appends. */
  appendEvents(
    taskId: string,
    events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>,
  ): Promise<TaskEvent[]> {
    let encoded: EncodedEvent[];
    try {
      encoded = encodeEvents(events);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.appends.add({ taskId, events: encoded });
  }

  private readonly appends = new TickBatch<Append, TaskEvent[]>(
    (items) =>
      inRounds(
        items,
        (item) => item.taskId,
        (round) => this.appendMany(round),
      ),
    100,
  );

  private async appendMany(items: Append[]): Promise<Array<TaskEvent[] | Error>> {
    const at = new Date().toISOString();
    const counts = items.map((item) => ({ id: item.taskId, n: item.events.length }));
    const events = items.flatMap((item) => eventDocs(item.taskId, item.events));
    const { rows: bumped } = await this.pool.query({
      name: `opspawn-append-${this.s}`,
      text: this.appendStatement,
      values: [JSON.stringify(counts), `[${events.join(',')}]`, at],
    });
    const lastSeqs = new Map(bumped.map((r: Row) => [r.id as string, r.last_seq as number]));
    return items.map(({ taskId, events }) => {
      const lastSeq = lastSeqs.get(taskId);
      if (lastSeq === undefined) return new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `task ${taskId} does not exist`);
      return storedEvents(taskId, lastSeq, at, events);
    });
  }

  async events(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const { rows } = await this.pool.query(
      `SELECT task_id, seq, type, at, data FROM ${this.s}.opspawn_task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [taskId, afterSeq, limit],
    );
    return rows.map((r: Row) => ({ taskId: r.task_id, seq: r.seq, type: r.type, at: r.at, data: r.data }));
  }

  async findByStatus(statuses: readonly TaskStatus[], limit: number): Promise<Task[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.s}.opspawn_tasks WHERE status = ANY($1) ORDER BY id LIMIT $2`,
      [[...statuses], limit],
    );
    return rows.map(toTask);
  }
  async renewLeases(ids: readonly string[], until: string): Promise<number> {
    if (ids.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `WITH locked AS MATERIALIZED (${lockInIdOrder(this.s, 'SELECT unnest($2::text[]) AS id')})
       UPDATE ${this.s}.opspawn_tasks AS t SET lease_expires_at = $1 FROM locked WHERE t.id = locked.id AND t.status = 'running'`,
      [until, [...ids]],
    );
    return rowCount ?? 0;
  }

  async deleteFinished(rule: RetentionRule): Promise<number> {
    // Events go with their task (ON DELETE CASCADE); the (status, id) index finds the oldest first, locked in id
    // order like every batched write (`lockInIdOrder`).
    const { rowCount } = await this.pool.query(
      `DELETE FROM ${this.s}.opspawn_tasks WHERE id IN (
         SELECT id FROM ${this.s}.opspawn_tasks WHERE status = $1
           AND (($2::text IS NOT NULL AND finished_at < $2)
             OR ($3::int IS NOT NULL AND id <= (SELECT id FROM ${this.s}.opspawn_tasks WHERE status = $1 ORDER BY id DESC LIMIT 1 OFFSET $3)))
         ORDER BY id LIMIT $4 FOR UPDATE)`,
      [rule.status, rule.finishedBefore ?? null, rule.keepNewest ?? null, rule.limit],
    );
    return rowCount ?? 0;
  }
}

function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}

interface Append {
  taskId: string;
  events: EncodedEvent[];
}

/** An event to store, its data already encoded as JSON text. */
interface EncodedEvent {
  type: TaskEventType;
  data: Record<string, unknown>;
  text: string;
}

/** Throws (a TypeError) when an event's data is not JSON, e.g. holds a BigInt. */
function encodeEvents(events: ReadonlyArray<{ type: TaskEventType; data: Record<string, unknown> }>): EncodedEvent[] {
  return events.map(({ type, data }) => ({ type, data, text: JSON.stringify(data) }));
}

/** Events as the statements read them (`{id, k, type, data}`, k from 1), their data's JSON text spliced in. */
function eventDocs(taskId: string, events: readonly EncodedEvent[]): string[] {
  const id = JSON.stringify(taskId);
  return events.map((e, k) => `{"id":${id},"k":${k + 1},"type":${JSON.stringify(e.type)},"data":${e.text}}`);
}

/**
 * Bumps the seq counter of each task of $1 (`[{id, n}]`) by its number of events and inserts its events of $2
 * (`[{id, k, type, data}]`) with the seqs so reserved, stamped $3. One text for any batch: prepared once.
 */
function appendStatement(s: string): string {
  return `WITH counts AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS c (id text, n int)),
    locked AS MATERIALIZED (${lockInIdOrder(s, 'SELECT id FROM counts')}),
    bumped AS (UPDATE ${s}.opspawn_tasks AS t SET last_seq = t.last_seq + counts.n
      FROM counts JOIN locked ON locked.id = counts.id WHERE t.id = counts.id
      RETURNING t.id, t.last_seq, counts.n),
    appended AS (INSERT INTO ${s}.opspawn_task_events (task_id, seq, type, at, data)
      SELECT bumped.id, bumped.last_seq - bumped.n + e.k, e.type, $3, e.data
      FROM bumped JOIN jsonb_to_recordset($2::jsonb) AS e (id text, k int, type text, data jsonb) ON e.id = bumped.id)
    SELECT id, last_seq FROM bumped`;
}

/**
 * Locks the rows of `opspawn_tasks` whose ids `ids` (a query answering `id`) selects, in id order. Every batched
 * write joins its UPDATE to these rows, so it changes only rows it has already locked, and takes its locks in id
 * order whatever plan PostgreSQL picks for the UPDATE (a nested loop follows the document's order, a hash join the
 * table's as the statement's snapshot sees it): two statements writing the same tasks wait for each other instead
 * of deadlocking. The ids are sorted, then each row is locked by its primary key (a LATERAL lookup is a nested loop
 * over the sorted ids), so this costs an index probe per task, not a scan of the table. FOR NO KEY UPDATE is the
 * lock the UPDATE takes anyway.
 */
function lockInIdOrder(s: string, ids: string): string {
  return `SELECT k.id FROM (SELECT DISTINCT id FROM (${ids}) AS i ORDER BY id) AS l,
      LATERAL (SELECT t.id FROM ${s}.opspawn_tasks AS t WHERE t.id = l.id FOR NO KEY UPDATE) AS k`;
}

/** The events stored with the seqs reserved up to `lastSeq`. */
function storedEvents(taskId: string, lastSeq: number, at: string, events: readonly EncodedEvent[]): TaskEvent[] {
  const first = lastSeq - events.length + 1;
  return events.map(({ type, data }, k) => asTaskEvent({ taskId, seq: first + k, type, at, data }));
}

/**
 * Runs `items` through `run` in rounds in which no task appears twice (one statement may not change a row twice):
 * a second write to the same task waits for the next round, so a task's writes keep their order.
 */
async function inRounds<I, O>(
  items: I[],
  taskOf: (item: I) => string,
  run: (round: I[]) => Promise<O[]>,
): Promise<O[]> {
  const results: O[] = new Array(items.length);
  let rest = items.map((item, index) => ({ item, index }));
  while (rest.length > 0) {
    const seen = new Set<string>();
    const round = rest.filter(({ item }) => !seen.has(taskOf(item)) && seen.add(taskOf(item)));
    rest = rest.filter((entry) => !round.includes(entry));
    const done = await run(round.map((r) => r.item));
    round.forEach(({ index }, i) => {
      results[index] = done[i]!;
    });
  }
  return results;
}

interface Move {
  id: string;
  from: readonly TaskStatus[];
  change: TaskChange;
  expectAttempts: number | undefined;
  events: EncodedEvent[];
}

/** The conditional UPDATE of one transition, its parameters pushed onto `values` (so several share a statement). */
function transitionUpdate(s: string, values: unknown[], move: Omit<Move, 'events'>, reserveSeqs = 0): string {
  const p = (value: unknown) => `$${values.push(value)}`;
  const { id, from, change, expectAttempts } = move;
  const sets = [`status = ${p(change.status)}`, `updated_at = ${p(new Date().toISOString())}`];
  if (reserveSeqs > 0) sets.push(`last_seq = last_seq + ${reserveSeqs}`);
  if ('output' in change) sets.push(`output = ${p(json(change.output))}`);
  if ('error' in change) sets.push(`error = ${p(change.error === null ? null : json(change.error))}`);
  if (change.attempts !== undefined) sets.push(`attempts = ${p(change.attempts)}`);
  if ('startedAt' in change) sets.push(`started_at = ${p(change.startedAt ?? null)}`);
  if ('finishedAt' in change) sets.push(`finished_at = ${p(change.finishedAt ?? null)}`);
  if ('leaseExpiresAt' in change) sets.push(`lease_expires_at = ${p(change.leaseExpiresAt ?? null)}`);
  if ('notBefore' in change) sets.push(`not_before = ${p(change.notBefore ?? null)}`);
  if (change.cancelRequested !== undefined) sets.push(`cancel_requested = ${p(change.cancelRequested)}`);
  if (change.usage !== undefined) sets.push(`usage = ${p(json(change.usage))}`);
  let where = `id = ${p(id)} AND status = ANY(${p([...from])})`;
  if (expectAttempts !== undefined) where += ` AND attempts = ${p(expectAttempts)}`;
  return `UPDATE ${s}.opspawn_tasks SET ${sets.join(', ')} WHERE ${where}`;
}

/**
 * Inserts the tasks of $1 (`[{task, type, data}]`, each `task` a row by column name) that no earlier task holds the
 * idempotency key of, each with its first event (seq 1) stamped $2, and answers their ids alone (the caller has the
 * rows). Its text is the same for any number of tasks, so each connection prepares it once.
 */
function createStatement(s: string): string {
  return `WITH items AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS i (task jsonb, type text, data jsonb)),
    inserted AS (INSERT INTO ${s}.opspawn_tasks (${TASK_COLUMNS})
      SELECT ${TASK_COLUMNS} FROM items, jsonb_populate_record(NULL::${s}.opspawn_tasks, items.task)
      ON CONFLICT (idempotency_key) DO NOTHING RETURNING id),
    appended AS (INSERT INTO ${s}.opspawn_task_events (task_id, seq, type, at, data)
      SELECT inserted.id, 1, items.type, $2, items.data FROM inserted JOIN items ON items.task->>'id' = inserted.id)
    SELECT id FROM inserted`;
}

/** A task as a row of `opspawn_tasks` by column name, in JSON (a JSON null is an SQL NULL), with `last_seq` preset. */
function taskDoc(task: Task, lastSeq: number): Record<string, unknown> {
  return {
    id: task.id,
    goal: task.goal,
    input: task.input ?? null,
    planner: task.planner,
    memory: task.memory,
    session_id: task.sessionId,
    status: task.status,
    output: task.output ?? null,
    error: task.error ?? null,
    attempts: task.attempts,
    max_attempts: task.maxAttempts,
    timeout_ms: task.timeoutMs,
    max_steps: task.maxSteps,
    priority: task.priority,
    idempotency_key: task.idempotencyKey ?? null,
    request_hash: task.requestHash ?? null,
    labels: task.labels ?? {},
    not_before: task.notBefore ?? null,
    cancel_requested: task.cancelRequested,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
    started_at: task.startedAt ?? null,
    finished_at: task.finishedAt ?? null,
    lease_expires_at: task.leaseExpiresAt ?? null,
    agent: task.agent ?? null,
    parent_id: task.parentId ?? null,
    usage: task.usage ?? null,
    last_seq: lastSeq,
  };
}

/** A change as the move statement reads it: a key present (even null) sets its column, an absent key keeps it. */
function changeDoc(change: TaskChange): Record<string, unknown> {
  const doc: Record<string, unknown> = { status: change.status, updatedAt: new Date().toISOString() };
  for (const key of ['output', 'error', 'startedAt', 'finishedAt', 'leaseExpiresAt', 'notBefore'] as const)
    if (key in change) doc[key] = change[key] ?? null;
  if (change.attempts !== undefined) doc.attempts = change.attempts;
  if (change.cancelRequested !== undefined) doc.cancelRequested = change.cancelRequested;
  if (change.usage !== undefined) doc.usage = change.usage;
  return doc;
}

/**
 * The compare-and-set of many moves ($1: `[{i, id, from, attempts, n, change}]`), each reserving `n` seqs for its
 * events ($2: `[{id, k, type, data}]`), all stamped `$3`. What `transitionUpdate` writes for one move.
 */
function moveStatement(s: string): string {
  const set = (column: string, key: string, value = `m.change->>'${key}'`) =>
    `${column} = CASE WHEN m.change ? '${key}' THEN ${value} ELSE t.${column} END`;
  return `WITH moves AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS m (i int, id text, "from" jsonb, attempts int, n int, change jsonb)),
    locked AS MATERIALIZED (${lockInIdOrder(s, 'SELECT id FROM moves')}),
    moved AS (
      UPDATE ${s}.opspawn_tasks AS t SET
        status = m.change->>'status',
        updated_at = m.change->>'updatedAt',
        last_seq = t.last_seq + m.n,
        ${set('output', 'output', `NULLIF(m.change->'output', 'null')`)},
        ${set('error', 'error', `NULLIF(m.change->'error', 'null')`)},
        ${set('attempts', 'attempts', `(m.change->>'attempts')::int`)},
        ${set('started_at', 'startedAt')},
        ${set('finished_at', 'finishedAt')},
        ${set('lease_expires_at', 'leaseExpiresAt')},
        ${set('not_before', 'notBefore')},
        ${set('cancel_requested', 'cancelRequested', `(m.change->>'cancelRequested')::boolean`)},
        ${set('usage', 'usage', `m.change->'usage'`)}
      FROM moves AS m JOIN locked ON locked.id = m.id
      WHERE t.id = m.id AND m."from" ? t.status AND (m.attempts IS NULL OR t.attempts = m.attempts)
      RETURNING m.i AS move_index, m.n AS reserved, ${columnsOf('t')}),
    appended AS (INSERT INTO ${s}.opspawn_task_events (task_id, seq, type, at, data)
      SELECT moved.id, moved.last_seq - moved.reserved + e.k, e.type, $3, e.data
      FROM moved JOIN jsonb_to_recordset($2::jsonb) AS e (id text, k int, type text, data jsonb) ON e.id = moved.id)
    SELECT * FROM moved`;
}

const TASK_COLUMNS = `id, goal, input, planner, memory, session_id, status, output, error, attempts, max_attempts, timeout_ms, max_steps,
  priority, idempotency_key, request_hash, labels, not_before, cancel_requested, created_at, updated_at, started_at, finished_at, lease_expires_at, agent, parent_id, usage, last_seq`;

/**
 * `TASK_COLUMNS` of table alias `alias`. Named statements list their result columns rather than `*`: a migration that
 * adds a column (a rolling upgrade, while older processes run) would change a prepared `*`'s result type, which
 * PostgreSQL refuses ("cached plan must not change result type").
 */
function columnsOf(alias: string): string {
  return TASK_COLUMNS.split(',')
    .map((column) => `${alias}.${column.trim()}`)
    .join(', ');
}

/** The columns of `opspawn_tasks` holding JSON, passed to a positional INSERT as text. */
const JSON_COLUMNS = new Set(['input', 'output', 'error', 'labels', 'usage']);

/** A task's values in `TASK_COLUMNS` order, with `last_seq` preset: `taskDoc`'s, JSON columns as text. */
function taskRow(task: Task, lastSeq: number): unknown[] {
  const doc = taskDoc(task, lastSeq);
  return TASK_COLUMNS.split(',').map((name) => {
    const column = name.trim();
    const value = doc[column];
    return JSON_COLUMNS.has(column) && value !== null ? JSON.stringify(value) : value;
  });
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function toTask(r: Row): Task {
  const task: Task = {
    id: r.id,
    goal: r.goal,
    input: r.input,
    planner: r.planner,
    memory: r.memory,
    sessionId: r.session_id,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    timeoutMs: Number(r.timeout_ms),
    maxSteps: r.max_steps,
    priority: r.priority,
    labels: r.labels ?? {},
    cancelRequested: r.cancel_requested,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.output !== null) task.output = r.output;
  if (r.error !== null) task.error = r.error;
  if (r.idempotency_key !== null) task.idempotencyKey = r.idempotency_key;
  if (r.request_hash !== null) task.requestHash = r.request_hash;
  if (r.not_before !== null) task.notBefore = r.not_before;
  if (r.started_at !== null) task.startedAt = r.started_at;
  if (r.finished_at !== null) task.finishedAt = r.finished_at;
  if (r.lease_expires_at !== null) task.leaseExpiresAt = r.lease_expires_at;
  if (r.agent !== null) task.agent = r.agent;
  if (r.parent_id !== null) task.parentId = r.parent_id;
  if (r.usage !== null) task.usage = r.usage;
  return task;
}
