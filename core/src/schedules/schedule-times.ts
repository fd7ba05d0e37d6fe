import { Cron } from 'croner';
import type { Schedule } from '@opspawn/plugin-sdk';

/** The timing of a schedule: a cron expression in a time zone, or a fixed interval. */
export type ScheduleTiming = Pick<Schedule, 'cron' | 'timezone' | 'everyMs'>;

/** Throws croner's own message when the expression or the time zone is invalid. */
export function compileCron(cron: string, timezone = 'UTC'): Cron {
  const job = new Cron(cron, { timezone, paused: true });
  // croner reads the time zone lazily: ask once so a bad one fails here.
  job.nextRun();
  return job;
}

/** The due time of a cron expression that never matches again. */
export const NEVER = new Date('9999-12-31T23:59:59.000Z');

/** The first due time strictly after `after`. An interval counts from `anchor` (the schedule's first due time). */
export function nextDueAfter(timing: ScheduleTiming, after: Date, anchor?: Date): Date {
  if (timing.everyMs !== undefined) {
    const from = anchor ?? new Date(after.getTime() + timing.everyMs);
    if (from > after) return from;
    const steps = Math.floor((after.getTime() - from.getTime()) / timing.everyMs) + 1;
    return new Date(from.getTime() + steps * timing.everyMs);
  }
  const next = compileCron(timing.cron!, timing.timezone).nextRun(after);
  // A cron expression that never matches again (a date in the past) is parked at the last time every store can hold.
  return next ?? NEVER;
}

/** What to do with a schedule whose `nextDueAt` has passed. */
export interface DuePlan {
  /** The due time to fire now (its idempotency key), if any. */
  fireAt?: Date;
  /** Due times passed that will not fire, and the latest of them. */
  missed: number;
  lastMissedAt?: Date;
  /** The latest due time at or before now: what `lastDueAt` becomes. */
  latestDueAt: Date;
  nextDueAt: Date;
}

/**
 * The missed-run policy, as a pure function. The latest due time at or before `now` is on time when it passed less
 * than `lateAfterMs` ago; every earlier one still pending was missed (the scheduler was not running then).
 * `skip` fires the latest only when it is on time; `catch_up_one` fires it in any case, once for all the missed ones.
 */
export function planDue(schedule: Schedule, now: Date, lateAfterMs: number): DuePlan {
  const due = new Date(schedule.nextDueAt);
  const { latest, passed } = latestAtOrBefore(schedule, due, now);
  const nextDueAt = nextDueAfter(schedule, now, schedule.everyMs === undefined ? undefined : due);
  const onTime = now.getTime() - latest.getTime() <= lateAfterMs;
  if (schedule.missed === 'catch_up_one' || onTime) {
    const missed = passed - 1;
    return {
      fireAt: latest,
      missed: schedule.missed === 'catch_up_one' ? 0 : missed,
      lastMissedAt: schedule.missed === 'skip' && missed > 0 ? previousOf(schedule, latest) : undefined,
      latestDueAt: latest,
      nextDueAt,
    };
  }
  return { missed: passed, lastMissedAt: latest, latestDueAt: latest, nextDueAt };
}

/** The latest due time in [due, now] and how many due times that range holds (at least 1: `due` itself). */
function latestAtOrBefore(schedule: Schedule, due: Date, now: Date): { latest: Date; passed: number } {
  if (schedule.everyMs !== undefined) {
    const steps = Math.max(0, Math.floor((now.getTime() - due.getTime()) / schedule.everyMs));
    return { latest: new Date(due.getTime() + steps * schedule.everyMs), passed: steps + 1 };
  }
  const job = compileCron(schedule.cron!, schedule.timezone);
  let latest = due;
  let passed = 1;
  // Counted one by one up to a bound; past it, croner finds the latest directly (the count is then a floor).
  for (let next = job.nextRun(due); next && next <= now; next = job.nextRun(next)) {
    latest = next;
    if (++passed >= 1000) {
      const previous = job.previousRuns(1, new Date(now.getTime() + 1))[0];
      if (previous && previous > latest) latest = previous;
      break;
    }
  }
  return { latest, passed };
}

function previousOf(schedule: Schedule, time: Date): Date {
  if (schedule.everyMs !== undefined) return new Date(time.getTime() - schedule.everyMs);
  return compileCron(schedule.cron!, schedule.timezone).previousRuns(1, time)[0] ?? time;
}
