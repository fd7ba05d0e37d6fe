import {
  ErrorCodes,
  OpspawnError,
  createScheduleJsonSchema,
  scheduleSpecJsonSchema,
  updateScheduleJsonSchema,
  type AgentDefinition,
  type ScheduleSpec,
} from '@opspawn/plugin-sdk';
import { createAjv, describeAjvError } from '../config/ajv.js';
import { compileCron } from './schedule-times.js';

export interface FieldProblem {
  path: string;
  message: string;
}

const ajv = createAjv({ useDefaults: false });
const validators = {
  spec: ajv.compile(scheduleSpecJsonSchema),
  create: ajv.compile(createScheduleJsonSchema),
  update: ajv.compile(updateScheduleJsonSchema),
};

/**
 * Every problem of a schedule as a config entry (`spec`), a create request or a patch (`update`), each with the
 * path of its field under `prefix`: the schema, then what it cannot say (a cron expression croner accepts, an IANA
 * time zone, exactly one of cron and everyMs, a time zone only with cron).
 */
export function scheduleProblems(value: unknown, kind: keyof typeof validators, prefix = ''): FieldProblem[] {
  const validate = validators[kind];
  if (!validate(value)) return (validate.errors ?? []).map((e) => describeAjvError(e, prefix ? `.${prefix}` : ''));
  const spec = value as Partial<ScheduleSpec>;
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
  const problems: FieldProblem[] = [];
  if (kind !== 'update' || spec.cron !== undefined || spec.everyMs !== undefined) {
    if (spec.cron !== undefined && spec.everyMs !== undefined)
      problems.push({ path: at('cron'), message: 'give cron or everyMs, not both' });
    else if (spec.cron === undefined && spec.everyMs === undefined)
      problems.push({ path: at('cron'), message: 'give cron or everyMs' });
  }
  if (spec.timezone !== undefined) {
    if (!isTimeZone(spec.timezone))
      problems.push({
        path: at('timezone'),
        message: `'${spec.timezone}' is not an IANA time zone (e.g. Europe/Paris)`,
      });
    else if (spec.everyMs !== undefined) problems.push({ path: at('timezone'), message: 'applies to cron only' });
  }
  if (spec.cron !== undefined) {
    try {
      compileCron(spec.cron, spec.timezone !== undefined && isTimeZone(spec.timezone) ? spec.timezone : 'UTC');
    } catch (error) {
      problems.push({
        path: at('cron'),
        message: `'${spec.cron}' is not a cron expression: ${(error as Error).message}`,
      });
    }
  }
  return problems;
}

/** SCHEDULE_INVALID naming every field, or nothing. */
export function assertSchedule(value: unknown, kind: keyof typeof validators): void {
  const details = scheduleProblems(value, kind);
  if (details.length === 0) return;
  throw new OpspawnError(
    ErrorCodes.SCHEDULE_INVALID,
    `the schedule is invalid: ${details.map((d) => `${d.path || 'request'} ${d.message}`).join('; ')}`,
    { details },
  );
}

/** The config's `schedules`, for `config check` and the boot: each entry's fields, and the agent it names. */
export function checkConfigSchedules(
  schedules: Record<string, unknown> | undefined,
  agents: Record<string, AgentDefinition> | undefined,
): OpspawnError[] {
  const problems: OpspawnError[] = [];
  const known = Object.keys(agents ?? {});
  for (const [id, spec] of Object.entries(schedules ?? {})) {
    const details = scheduleProblems(spec, 'spec', `schedules.${id}`);
    const agent = (spec as { agent?: unknown } | null)?.agent;
    if (typeof agent === 'string' && !known.includes(agent))
      details.push({
        path: `schedules.${id}.agent`,
        message: `names no agent of this config; known agents: ${known.join(', ') || '(none declared)'}`,
      });
    for (const d of details)
      problems.push(
        new OpspawnError(ErrorCodes.SCHEDULE_INVALID, `${d.path}: ${d.message}`, {
          hint: 'fix the field; see docs/how-to/run-agents-on-a-schedule.md',
          details: { path: d.path },
        }),
      );
  }
  return problems;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
