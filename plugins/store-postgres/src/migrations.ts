/** Ordered schema migrations; each runs once, in a transaction, under an advisory lock (many workers may start at once). */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: (schema: string) => string }> = [
  {
    version: 1,
    name: 'tasks and events',
    sql: (s) => `
      CREATE TABLE ${s}.opspawn_tasks (
        id               text PRIMARY KEY,
        goal             text NOT NULL,
        input            jsonb,
        planner          text NOT NULL,
        memory           text NOT NULL,
        session_id       text NOT NULL,
        status           text NOT NULL,
        output           jsonb,
        error            jsonb,
        attempts         integer NOT NULL,
        max_attempts     integer NOT NULL,
        timeout_ms       bigint NOT NULL,
        max_steps        integer NOT NULL,
        priority         integer NOT NULL,
        idempotency_key  text UNIQUE,
        request_hash     text,
        labels           jsonb NOT NULL DEFAULT '{}'::jsonb,
        not_before       text,
        cancel_requested boolean NOT NULL DEFAULT false,
        created_at       text NOT NULL,
        updated_at       text NOT NULL,
        started_at       text,
        finished_at      text,
        last_seq         integer NOT NULL DEFAULT 0
      );
      CREATE INDEX opspawn_tasks_status_id ON ${s}.opspawn_tasks (status, id);
      CREATE INDEX opspawn_tasks_labels ON ${s}.opspawn_tasks USING gin (labels jsonb_path_ops);
      CREATE TABLE ${s}.opspawn_task_events (
        task_id text NOT NULL REFERENCES ${s}.opspawn_tasks (id) ON DELETE CASCADE,
        seq     integer NOT NULL,
        type    text NOT NULL,
        at      text NOT NULL,
        data    jsonb NOT NULL,
        PRIMARY KEY (task_id, seq)
      );`,
  },
  {
    version: 2,
    name: 'attempt leases',
    sql: (s) => `ALTER TABLE ${s}.opspawn_tasks ADD COLUMN lease_expires_at text;`,
  },
  {
    version: 3,
    name: 'the agent a task runs',
    sql: (s) => `ALTER TABLE ${s}.opspawn_tasks ADD COLUMN agent text;`,
  },
  {
    version: 4,
    name: 'handoff parents and token usage',
    sql: (s) => `ALTER TABLE ${s}.opspawn_tasks ADD COLUMN parent_id text, ADD COLUMN usage jsonb;
      CREATE INDEX opspawn_tasks_parent ON ${s}.opspawn_tasks (parent_id) WHERE parent_id IS NOT NULL;`,
  },
  {
    version: 5,
    name: 'schedules',
    sql: (s) => `CREATE TABLE ${s}.opspawn_schedules (
        id          text PRIMARY KEY,
        paused      boolean NOT NULL,
        next_due_at timestamptz NOT NULL,
        revision    integer NOT NULL,
        doc         jsonb NOT NULL
      );
      CREATE INDEX opspawn_schedules_due ON ${s}.opspawn_schedules (next_due_at) WHERE NOT paused;`,
  },
];
