import { randomBytes } from 'node:crypto';
import {
  ErrorCodes,
  OpspawnError,
  SCHEDULE_ID_PATTERN,
  type AgentRegistry,
  type CreateScheduleRequest,
  type Schedule,
  type ScheduleService,
  type ScheduleSpec,
  type ScheduleStore,
  type UpdateScheduleRequest,
} from '@opspawn/plugin-sdk';
import { assertSchedule } from './schedule-checks.js';
import { compact } from './schedule-json.js';
import type { Scheduler } from './scheduler.js';
import { nextDueAfter, type ScheduleTiming } from './schedule-times.js';

/** How often a write retries when another process changed the schedule in between (its revision moved). */
const WRITE_RETRIES = 5;

/**
 * The schedule API over the store's `schedules`: checks requests, keeps config schedules read-only (but for pause and
 * resume), and writes with the store's compare-and-set so a concurrent fire is never overwritten.
 */
export class KernelScheduleService implements ScheduleService {
  /** This process's scheduler, when the store keeps schedules. */
  scheduler?: Scheduler;

  constructor(
    private readonly store: ScheduleStore | undefined,
    private readonly agents: AgentRegistry,
  ) {}

  async list(): Promise<Schedule[]> {
    return this.schedules().list();
  }

  async get(id: string): Promise<Schedule> {
    const found = SCHEDULE_ID_PATTERN.test(id) ? await this.schedules().get(id) : undefined;
    if (!found) throw notFound(id);
    return found;
  }

  async create(request: CreateScheduleRequest): Promise<Schedule> {
    assertSchedule(request, 'create');
    if (request.agent !== undefined) this.agents.get(request.agent);
    const { id = generatedId(), ...spec } = request;
    const schedule = newSchedule(id, 'api', spec, new Date());
    if (!(await this.schedules().create(schedule)))
      throw new OpspawnError(ErrorCodes.SCHEDULE_EXISTS, `a schedule '${id}' exists already`, {
        details: [{ path: 'id', message: 'is taken' }],
      });
    this.scheduler?.wake();
    return schedule;
  }

  async update(id: string, change: UpdateScheduleRequest): Promise<Schedule> {
    assertSchedule(change, 'update');
    if (change.agent !== undefined) this.agents.get(change.agent);
    return this.write(id, (current, now) => {
      readOnly(current, 'changed');
      if (change.timezone !== undefined && change.cron === undefined && current.cron === undefined)
        throw new OpspawnError(
          ErrorCodes.SCHEDULE_INVALID,
          'timezone applies to cron only; this schedule runs everyMs',
          {
            details: [{ path: 'timezone', message: 'applies to cron only' }],
          },
        );
      const timing = timingOf(current, change);
      const merged: Schedule = { ...current, ...withoutTiming(change), ...timingFields(timing) };
      if (timing !== undefined) merged.nextDueAt = nextDueAfter(timing, now).toISOString();
      return merged;
    }).finally(() => this.scheduler?.wake());
  }

  async delete(id: string): Promise<void> {
    const current = await this.get(id);
    readOnly(current, 'deleted');
    if (!(await this.schedules().delete(id))) throw notFound(id);
  }

  pause(id: string): Promise<Schedule> {
    return this.write(id, (current) => ({ ...current, paused: true }));
  }

  resume(id: string): Promise<Schedule> {
    return this.write(id, (current, now) =>
      current.paused ? { ...current, paused: false, nextDueAt: nextDueAfter(current, now).toISOString() } : current,
    ).finally(() => this.scheduler?.wake());
  }

  /**
   * The config's schedules, at start: a new id is created; an existing one takes the config's fields (the config
   * wins) and keeps its state (due time unless the timing changed, counters, a pause made over the API unless the
   * config says `paused: true`); a config schedule no longer in the config is deleted. API schedules are untouched.
   */
  async applyConfig(declared: Record<string, ScheduleSpec>): Promise<void> {
    const store = this.schedules();
    const now = new Date();
    for (const [id, spec] of Object.entries(declared)) {
      if (await store.create(newSchedule(id, 'config', spec, now))) continue;
      await this.write(id, (current, at) => {
        const fresh = newSchedule(id, 'config', spec, at);
        const sameTiming =
          current.cron === fresh.cron && current.timezone === fresh.timezone && current.everyMs === fresh.everyMs;
        return {
          ...current,
          ...fresh,
          ...timingFields(fresh),
          agent: fresh.agent,
          source: 'config',
          paused: spec.paused === true || current.paused,
          nextDueAt: sameTiming ? current.nextDueAt : fresh.nextDueAt,
          createdAt: current.createdAt,
          lastDueAt: current.lastDueAt,
          lastTaskId: current.lastTaskId,
          lastSkip: current.lastSkip,
          fires: current.fires,
          skips: current.skips,
        };
      });
    }
    for (const s of await store.list())
      if (s.source === 'config' && !Object.hasOwn(declared, s.id)) await store.delete(s.id);
  }

  private async write(id: string, change: (current: Schedule, now: Date) => Schedule): Promise<Schedule> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(id);
      const now = new Date();
      const next = change(current, now);
      const stored = await this.schedules().replace(
        compact({ ...next, updatedAt: now.toISOString() }),
        current.revision,
      );
      if (stored) return stored;
      if (attempt >= WRITE_RETRIES)
        throw new OpspawnError(ErrorCodes.STORE_UNAVAILABLE, `schedule '${id}' kept changing while being written`, {
          hint: 'try again',
        });
    }
  }

  private schedules(): ScheduleStore {
    if (!this.store)
      throw new OpspawnError(ErrorCodes.SCHEDULES_UNSUPPORTED, "this deployment's store keeps no schedules");
    return this.store;
  }
}

export function newSchedule(id: string, source: Schedule['source'], spec: ScheduleSpec, now: Date): Schedule {
  const { paused, missed, overlap, agent, task, ...timing } = spec;
  const at = now.toISOString();
  return compact({
    id,
    source,
    ...(agent !== undefined ? { agent } : {}),
    ...timingFields(timing),
    task,
    missed: missed ?? 'skip',
    overlap: overlap ?? 'skip',
    paused: paused ?? false,
    nextDueAt: nextDueAfter(timing, now).toISOString(),
    fires: 0,
    skips: 0,
    revision: 0,
    createdAt: at,
    updatedAt: at,
  });
}

/** The timing after a patch, or undefined when the patch leaves it alone. */
function timingOf(current: Schedule, change: UpdateScheduleRequest): ScheduleTiming | undefined {
  if (change.cron !== undefined) return { cron: change.cron, timezone: change.timezone ?? current.timezone };
  if (change.everyMs !== undefined) return { everyMs: change.everyMs };
  if (change.timezone !== undefined && current.cron !== undefined)
    return { cron: current.cron, timezone: change.timezone };
  return undefined;
}

function timingFields(timing: ScheduleTiming | undefined): ScheduleTiming {
  if (timing === undefined) return {};
  return timing.everyMs !== undefined
    ? { cron: undefined, timezone: undefined, everyMs: timing.everyMs }
    : { cron: timing.cron, timezone: timing.timezone ?? 'UTC', everyMs: undefined };
}

function withoutTiming(change: UpdateScheduleRequest): Omit<UpdateScheduleRequest, 'cron' | 'timezone' | 'everyMs'> {
  const { cron: _c, timezone: _t, everyMs: _e, ...rest } = change;
  return rest;
}

function readOnly(schedule: Schedule, verb: string): void {
  if (schedule.source === 'config')
    throw new OpspawnError(
      ErrorCodes.SCHEDULE_READ_ONLY,
      `schedule '${schedule.id}' is declared in the config and cannot be ${verb} over the API`,
    );
}

function notFound(id: string): OpspawnError {
  return new OpspawnError(ErrorCodes.SCHEDULE_NOT_FOUND, `no schedule '${id.slice(0, 80)}'`);
}

function generatedId(): string {
  return `sch_${randomBytes(8).toString('hex')}`;
}
