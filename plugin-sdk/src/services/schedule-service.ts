import type { CreateScheduleRequest, Schedule, UpdateScheduleRequest } from '../schedule.js';

/**
 * The kernel's schedule API, the one transports call.
 *
 * Refusals throw `OpspawnError`: SCHEDULE_INVALID (with field details), AGENT_NOT_FOUND, SCHEDULE_NOT_FOUND,
 * SCHEDULE_EXISTS, SCHEDULE_READ_ONLY (a config schedule changed or deleted), SCHEDULES_UNSUPPORTED (the store keeps
 * no schedules).
 */
export interface ScheduleService {
  list(): Promise<Schedule[]>;
  get(id: string): Promise<Schedule>;
  create(request: CreateScheduleRequest): Promise<Schedule>;
  update(id: string, change: UpdateScheduleRequest): Promise<Schedule>;
  delete(id: string): Promise<void>;
  pause(id: string): Promise<Schedule>;
  /** Unpauses; the next due time is computed from now, so due times passed while paused do not fire. */
  resume(id: string): Promise<Schedule>;
}
