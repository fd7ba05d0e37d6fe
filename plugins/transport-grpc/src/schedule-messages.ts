import type { CreateScheduleRequest, Schedule, UpdateScheduleRequest } from '@opspawn/plugin-sdk';
import { BadJsonField } from './task-messages.js';

/** A schedule as the Schedule message of schedules.proto: absent strings are empty, the task request is JSON. */
export function scheduleToProto(s: Schedule): Record<string, unknown> {
  return {
    id: s.id,
    source: s.source,
    agent: s.agent ?? '',
    cron: s.cron ?? '',
    timezone: s.timezone ?? '',
    everyMs: s.everyMs,
    taskJson: JSON.stringify(s.task),
    missed: s.missed,
    overlap: s.overlap,
    paused: s.paused,
    nextDueAt: s.nextDueAt,
    lastDueAt: s.lastDueAt ?? '',
    lastTaskId: s.lastTaskId ?? '',
    lastSkipJson: s.lastSkip ? JSON.stringify(s.lastSkip) : '',
    fires: s.fires,
    skips: s.skips,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

/**
 * A CreateScheduleRequest message as the kernel's request: empty strings mean unset, so the kernel's checks (and
 * their field names) are the same as over REST.
 */
export function createFromProto(m: Record<string, any>): CreateScheduleRequest {
  return {
    ...(m.id ? { id: m.id } : {}),
    ...(m.agent ? { agent: m.agent } : {}),
    ...(m.cron ? { cron: m.cron } : {}),
    ...(m.timezone ? { timezone: m.timezone } : {}),
    ...(m.everyMs !== undefined && m.everyMs !== null ? { everyMs: Number(m.everyMs) } : {}),
    ...(m.missed ? { missed: m.missed } : {}),
    ...(m.overlap ? { overlap: m.overlap } : {}),
    ...(m.paused ? { paused: true } : {}),
    task: taskFromJson(m.taskJson),
  } as CreateScheduleRequest;
}

/** An UpdateScheduleRequest: only the fields set (proto3 `optional`) change. */
export function updateFromProto(m: Record<string, any>): UpdateScheduleRequest {
  const has = (field: string) => m[field] !== undefined && m[field] !== null;
  return {
    ...(has('agent') ? { agent: m.agent } : {}),
    ...(has('cron') ? { cron: m.cron } : {}),
    ...(has('timezone') ? { timezone: m.timezone } : {}),
    ...(has('everyMs') ? { everyMs: Number(m.everyMs) } : {}),
    ...(has('missed') ? { missed: m.missed } : {}),
    ...(has('overlap') ? { overlap: m.overlap } : {}),
    ...(has('taskJson') ? { task: taskFromJson(m.taskJson) } : {}),
  } as UpdateScheduleRequest;
}

function taskFromJson(text: unknown): CreateScheduleRequest['task'] {
  if (typeof text !== 'string' || text === '') return undefined as never;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadJsonField('task_json', (error as Error).message);
  }
}
