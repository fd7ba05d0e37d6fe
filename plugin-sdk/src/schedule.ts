import * as z from 'zod';
import { submitTaskRequestSchema } from './task.js';

/** The label every task a schedule submits carries, with the schedule's id as its value. */
export const SCHEDULE_LABEL = 'opspawn.schedule';

/** Schedule ids: a config key or an API-given id, or `sch_` and a generated suffix. */
export const SCHEDULE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const isoTime = z.iso.datetime({ offset: true });

/** What a schedule's tasks are submitted with: a task request without agent, idempotency key or start time. */
export const scheduledTaskSchema = submitTaskRequestSchema.omit({ agent: true, idempotencyKey: true, notBefore: true });

/** The fields a config entry or an API call declares; the timing (`cron` or `everyMs`) is checked apart. */
export const scheduleSpecSchema = z
  .object({
    agent: z
      .string()
      .min(1)
      .optional()
      .describe("The agent each fire's task runs; the deployment's default agent when absent"),
    cron: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('A cron expression (5 fields, or 6 with seconds first); give it or everyMs, not both'),
    timezone: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('IANA time zone the cron expression is read in; default UTC'),
    everyMs: z
      .int()
      .min(1000)
      .max(366 * 86_400_000)
      .optional()
      .describe('A fixed interval instead of cron, >= 1000'),
    task: scheduledTaskSchema.describe('The task request each fire submits (goal, input, labels, limits...)'),
    missed: z
      .enum(['skip', 'catch_up_one'])
      .optional()
      .describe(
        'Due times missed while no process ran: skip them (default), or fire once for them all when the scheduler is back',
      ),
    overlap: z
      .enum(['skip', 'allow'])
      .optional()
      .describe("skip (default): no fire while the previous fire's task is not final; allow: fire anyway"),
    paused: z.boolean().optional().describe('Created paused; default false'),
  })
  .strict();
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>;

/** `POST /v1/schedules`: a spec, with an optional id. */
export const createScheduleRequestSchema = scheduleSpecSchema
  .extend({ id: z.string().regex(SCHEDULE_ID_PATTERN).optional().describe('Default: sch_ and a generated suffix') })
  .strict();
export type CreateScheduleRequest = z.infer<typeof createScheduleRequestSchema>;

/** `PATCH /v1/schedules/{id}`: the fields to change. Giving `cron` drops `everyMs` and the reverse. */
export const updateScheduleRequestSchema = scheduleSpecSchema.omit({ paused: true }).partial().strict();
export type UpdateScheduleRequest = z.infer<typeof updateScheduleRequestSchema>;

/** A schedule as the store keeps it and the APIs return it. */
export const scheduleSchema = z.object({
  id: z.string().regex(SCHEDULE_ID_PATTERN),
  source: z
    .enum(['config', 'api'])
    .describe('config: declared in opspawn.config (read-only over the API but pause/resume); api: made over an API'),
  agent: z.string().min(1).optional(),
  cron: z.string().optional(),
  timezone: z.string().optional(),
  everyMs: z.int().optional(),
  task: scheduledTaskSchema,
  missed: z.enum(['skip', 'catch_up_one']),
  overlap: z.enum(['skip', 'allow']),
  paused: z.boolean(),
  nextDueAt: isoTime.describe('The next due time (while paused, the one it had; resuming computes it again)'),
  lastDueAt: isoTime.optional().describe('The last due time handled (fired or skipped)'),
  lastTaskId: z.string().optional().describe('The task the last fire submitted'),
  lastSkip: z
    .object({ dueAt: isoTime, reason: z.enum(['overlap', 'missed', 'submit_failed']), detail: z.string().optional() })
    .optional()
    .describe('The last due time that did not fire, and why'),
  fires: z.int().min(0).describe('Tasks submitted so far'),
  skips: z.int().min(0).describe('Due times not fired so far (overlap, missed, or a refused submit)'),
  revision: z.int().min(0).describe("Bumped by every write: the store's compare-and-set claims a due time with it"),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Schedule = z.infer<typeof scheduleSchema>;
