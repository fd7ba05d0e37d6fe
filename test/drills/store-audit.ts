import type pg from 'pg';
import { FINAL_STATUSES } from '@opspawn/plugin-sdk';

/** What the store says about every task of a drill, read after the wait for all of them to be final. */
export interface StoreAudit {
  /** Tasks in the store: every accepted one, and any whose submission the client saw fail after all. */
  stored: number;
  byStatus: Record<string, number>;
  /** Tasks not in a final status. */
  stuck: number;
  /** Tasks with more than one final `status` event. */
  duplicateFinals: number;
  /** Seq numbers missing from tasks' event logs (1 to the task's last seq, counted over all tasks). */
  missingSeqs: number;
  /** Accepted ids (the client saw 201) that the store does not hold. */
  lost: number;
}

const FINAL_LIST = FINAL_STATUSES.map((s) => `'${s}'`).join(',');

/** Tasks of `schema` not in a final status right now. */
export async function countOpen(client: pg.Client, schema: string): Promise<number> {
  const { rows } = await client.query(
    `SELECT count(*)::int AS open FROM ${schema}.opspawn_tasks WHERE status NOT IN (${FINAL_LIST})`,
  );
  return rows[0].open as number;
}

/** Reads every task of `schema` and its events, and counts what the drill targets forbid. */
export async function auditStore(
  client: pg.Client,
  schema: string,
  acceptedIds: Iterable<string>,
): Promise<StoreAudit> {
  const { rows } = await client.query(
    `SELECT t.id, t.status, t.last_seq,
            count(e.seq)::int AS events,
            coalesce(max(e.seq), 0)::int AS max_seq,
            count(*) FILTER (WHERE e.type = 'status' AND e.data->>'status' IN (${FINAL_LIST}))::int AS finals
       FROM ${schema}.opspawn_tasks t LEFT JOIN ${schema}.opspawn_task_events e ON e.task_id = t.id
      GROUP BY t.id`,
  );
  const audit: StoreAudit = {
    stored: rows.length,
    byStatus: {},
    stuck: 0,
    duplicateFinals: 0,
    missingSeqs: 0,
    lost: 0,
  };
  const stored = new Set<string>();
  for (const row of rows) {
    stored.add(row.id);
    audit.byStatus[row.status] = (audit.byStatus[row.status] ?? 0) + 1;
    if (!(FINAL_STATUSES as readonly string[]).includes(row.status)) audit.stuck++;
    if (row.finals > 1) audit.duplicateFinals++;
    // Seqs are the primary key with the task id, so `events` distinct numbers cover 1..last seq only without gaps.
    audit.missingSeqs += Math.max(row.last_seq, row.max_seq) - row.events;
  }
  for (const id of acceptedIds) if (!stored.has(id)) audit.lost++;
  return audit;
}

/**
 * The task that became final last, as `status@attempt +seconds` steps from `since` (epoch ms): where a slow
 * recovery spent its time.
 */
export async function lastToFinish(client: pg.Client, schema: string, since: number): Promise<string | undefined> {
  const { rows } = await client.query(
    `SELECT e.task_id, e.at, e.data FROM ${schema}.opspawn_task_events e
      WHERE e.type = 'status' AND e.task_id = (
        SELECT id FROM ${schema}.opspawn_tasks WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1)
      ORDER BY e.seq`,
  );
  if (rows.length === 0) return undefined;
  const steps = rows.map((row) => {
    const seconds = (Date.parse(row.at) - since) / 1000;
    const why = row.data.error ? ` (${row.data.error.message})` : '';
    return `${row.data.status}@${row.data.attempt} ${seconds >= 0 ? '+' : ''}${seconds.toFixed(1)} s${why}`;
  });
  return `${rows[0].task_id}: ${steps.join(', ')}`;
}
