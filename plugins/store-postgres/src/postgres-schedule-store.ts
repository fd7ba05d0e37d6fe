import type pg from 'pg';
import type { Schedule, ScheduleStore } from '@opspawn/plugin-sdk';

/**
 * Schedules beside the tasks: the schedule as jsonb, with the columns the scheduler selects on. `replace` is one
 * conditional UPDATE on the revision, so of several processes exactly one claims a due time.
 */
export class PostgresScheduleStore implements ScheduleStore {
  private readonly t: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.t = `${schema}.opspawn_schedules`;
  }

  async create(schedule: Schedule): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO ${this.t} (id, paused, next_due_at, revision, doc) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
      [schedule.id, schedule.paused, schedule.nextDueAt, schedule.revision, schedule],
    );
    return rowCount === 1;
  }

  async get(id: string): Promise<Schedule | undefined> {
    const { rows } = await this.pool.query(`SELECT doc FROM ${this.t} WHERE id = $1`, [id]);
    return rows[0]?.doc;
  }

  async list(): Promise<Schedule[]> {
    const { rows } = await this.pool.query(`SELECT doc FROM ${this.t} ORDER BY id`);
    return rows.map((r) => r.doc);
  }

  async replace(schedule: Schedule, expectRevision: number): Promise<Schedule | undefined> {
    const stored = { ...schedule, revision: expectRevision + 1 };
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.t} SET paused = $1, next_due_at = $2, revision = revision + 1, doc = $3 WHERE id = $4 AND revision = $5`,
      [stored.paused, stored.nextDueAt, stored, stored.id, expectRevision],
    );
    return rowCount === 1 ? stored : undefined;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${this.t} WHERE id = $1`, [id]);
    return rowCount === 1;
  }

  async due(now: string, limit: number): Promise<Schedule[]> {
    const { rows } = await this.pool.query(
      `SELECT doc FROM ${this.t} WHERE NOT paused AND next_due_at <= $1 ORDER BY next_due_at LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.doc);
  }

  async nextDueAt(): Promise<string | undefined> {
    const { rows } = await this.pool.query(`SELECT min(next_due_at) AS at FROM ${this.t} WHERE NOT paused`);
    const at = rows[0]?.at as Date | null | undefined;
    return at ? at.toISOString() : undefined;
  }
}
