import * as z from 'zod';
import { taskEventSchema } from './task-event.js';
import {
  createScheduleRequestSchema,
  scheduleSchema,
  scheduleSpecSchema,
  updateScheduleRequestSchema,
} from './schedule.js';
import { publicTaskSchema, submitTaskRequestSchema } from './task.js';

/**
 * JSON Schema (2020-12) of the task shape, derived from the zod schemas in `task.ts` and `task-event.ts`: the
 * task engine validates submissions with `submitTaskSchema`, and transports put the same schemas in their API
 * documents (OpenAPI 3.1 speaks JSON Schema), so validation, documents and types cannot drift.
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    // `format: date-time` already says it; zod's equivalent regex would add a second, unreadable error message.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    },
  });
  return rest;
}

/** A task submission; unknown fields are refused. */
export const submitTaskSchema = jsonSchema(submitTaskRequestSchema, 'input');
/** A task as transports return it. */
export const taskJsonSchema = jsonSchema(publicTaskSchema, 'input');
/** A task event, `oneOf` per type with its data. */
export const taskEventJsonSchema = jsonSchema(taskEventSchema, 'input');
/** A schedule as transports return it. */
export const scheduleJsonSchema = jsonSchema(scheduleSchema, 'input');
/** `POST /v1/schedules`. */
export const createScheduleJsonSchema = jsonSchema(createScheduleRequestSchema, 'input');
/** `PATCH /v1/schedules/{id}`. */
export const updateScheduleJsonSchema = jsonSchema(updateScheduleRequestSchema, 'input');
/** A schedule entry of the config's `schedules`. */
export const scheduleSpecJsonSchema = jsonSchema(scheduleSpecSchema, 'input');
