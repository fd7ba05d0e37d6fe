/** Ordered schema migrations; each is applied once, in a transaction, and recorded in schema_migrations. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'tasks, labels and events',
    sql: `
      CREATE TABLE tasks (
        id               TEXT PRIMARY KEY,
        goal             TEXT NOT NULL,
        input            TEXT,
        planner          TEXT NOT NULL,
        memory           TEXT NOT NULL,
        session_id       TEXT NOT NULL,
        status           TEXT NOT NULL,
        output           TEXT,
        error            TEXT,
        attempts         INTEGER NOT NULL,
        max_attempts     INTEGER NOT NULL,
        timeout_ms       INTEGER NOT NULL,
        max_steps        INTEGER NOT NULL,
        priority         INTEGER NOT NULL,
        idempotency_key  TEXT UNIQUE,
        request_hash     TEXT,
        labels           TEXT NOT NULL,
        not_before       TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        started_at       TEXT,
        finished_at      TEXT,
        last_seq         INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX tasks_status_id ON tasks (status, id);
      CREATE TABLE task_labels (
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        key     TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (key, value, task_id)
      ) WITHOUT ROWID;
      CREATE TABLE task_events (
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        type    TEXT NOT NULL,
        at      TEXT NOT NULL,
        data    TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
      ) WITHOUT ROWID;`,
  },
  {
    version: 2,
    name: 'attempt leases',
    sql: 'ALTER TABLE tasks ADD COLUMN lease_expires_at TEXT;',
  },
  {
    version: 3,
    name: 'the agent a task runs',
    sql: 'ALTER TABLE tasks ADD COLUMN agent TEXT;',
  },
  {
    version: 4,
    name: 'handoff parents and token usage',
    sql: `ALTER TABLE tasks ADD COLUMN parent_id TEXT;
      ALTER TABLE tasks ADD COLUMN usage TEXT;
      CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;`,
  },
  {
    version: 5,
    name: 'schedules',
    sql: `CREATE TABLE schedules (
        id          TEXT PRIMARY KEY,
        paused      INTEGER NOT NULL,
        next_due_ms INTEGER NOT NULL,
        revision    INTEGER NOT NULL,
        doc         TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX schedules_due ON schedules (next_due_ms) WHERE paused = 0;`,
  },
];
