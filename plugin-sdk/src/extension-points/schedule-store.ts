import type { Schedule } from '../schedule.js';

/**
 * Where schedules live, offered by a task store as its optional `schedules` member (so schedules and the tasks they
 * submit share one database).
 *
 * Promise: `replace` is a compare-and-set on `revision`, so when several processes try to claim the same due time
 * exactly one succeeds; `due` returns unpaused schedules whose `nextDueAt` is at or before the time given.
 */
export interface ScheduleStore {
  /** Inserts `schedule`; false (and nothing written) when its id is taken. */
  create(schedule: Schedule): Promise<boolean>;
  get(id: string): Promise<Schedule | undefined>;
  /** Every schedule, by id. */
  list(): Promise<Schedule[]>;
  /**
   * Writes `schedule` (with `revision` set to `expectRevision + 1`) only if the stored one's revision is
   * `expectRevision`. Returns the stored schedule, or undefined when the condition did not hold or the id is unknown.
   */
  replace(schedule: Schedule, expectRevision: number): Promise<Schedule | undefined>;
  /** Deletes it; false when there was none. */
  delete(id: string): Promise<boolean>;
  /** Unpaused schedules with `nextDueAt <= now`, earliest first, at most `limit`. */
  due(now: string, limit: number): Promise<Schedule[]>;
  /** The earliest `nextDueAt` of the unpaused schedules, if any. */
  nextDueAt(): Promise<string | undefined>;
}
