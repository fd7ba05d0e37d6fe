import type Database from 'better-sqlite3';
import type { Schedule, ScheduleStore } from '@opspawn/plugin-sdk';

type Row = { doc: string };

/**
 * Schedules in the tasks' SQLite file: the schedule as JSON, with the columns the scheduler selects on. `replace` is
 * one conditional UPDATE on the revision, so of several processes sharing the file exactly one claims a due time.
 */
export class SqliteScheduleStore implements ScheduleStore {
  private readonly stmt;

  constructor(db: Database.Database) {
    this.stmt = {
      insert: db.prepare(
        'INSERT INTO schedules (id, paused, next_due_ms, revision, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      byId: db.prepare('SELECT doc FROM schedules WHERE id = ?'),
      all: db.prepare('SELECT doc FROM schedules ORDER BY id'),
      replace: db.prepare(
        'UPDATE schedules SET paused = ?, next_due_ms = ?, revision = revision + 1, doc = ? WHERE id = ? AND revision = ?',
      ),
      delete: db.prepare('DELETE FROM schedules WHERE id = ?'),
      due: db.prepare('SELECT doc FROM schedules WHERE paused = 0 AND next_due_ms <= ? ORDER BY next_due_ms LIMIT ?'),
      next: db.prepare('SELECT MIN(next_due_ms) AS at FROM schedules WHERE paused = 0'),
    };
  }

  async create(schedule: Schedule): Promise<boolean> {
    const { changes } = this.stmt.insert.run(
      schedule.id,
      schedule.paused ? 1 : 0,
      Date.parse(schedule.nextDueAt),
      schedule.revision,
      JSON.stringify(schedule),
    );
    return changes === 1;
  }

  async get(id: string): Promise<Schedule | undefined> {
    const row = this.stmt.byId.get(id) as Row | undefined;
    return row && JSON.parse(row.doc);
  }

  async list(): Promise<Schedule[]> {
    return (this.stmt.all.all() as Row[]).map((r) => JSON.parse(r.doc));
  }

  async replace(schedule: Schedule, expectRevision: number): Promise<Schedule | undefined> {
    const stored = { ...schedule, revision: expectRevision + 1 };
    const { changes } = this.stmt.replace.run(
      stored.paused ? 1 : 0,
      Date.parse(stored.nextDueAt),
      JSON.stringify(stored),
      stored.id,
      expectRevision,
    );
    return changes === 1 ? stored : undefined;
  }

  async delete(id: string): Promise<boolean> {
    return this.stmt.delete.run(id).changes === 1;
  }

  async due(now: string, limit: number): Promise<Schedule[]> {
    return (this.stmt.due.all(Date.parse(now), limit) as Row[]).map((r) => JSON.parse(r.doc));
  }

  async nextDueAt(): Promise<string | undefined> {
    const { at } = this.stmt.next.get() as { at: number | null };
    return at === null ? undefined : new Date(at).toISOString();
  }
}
