/**
 * A task's events, described once: a union discriminated on `type`, each type with its own `data`. Consumers
 * that interpret events switch on `type` with `assertNever` in the default branch, so a new event type fails to
 * compile wherever it is not handled. To add a type, see docs/reference/task-model.md.
 */
import * as z from 'zod';
import { isoTimeSchema, taskErrorSchema, taskSchema, taskStatusSchema, tokenUsageSchema } from './task.js';

const toolCallSchema = z.object({
  id: z.string().describe("The planner's id of the call, echoed by its result"),
  tool: z.string().describe('Namespaced tool name (`provider__tool`)'),
  arguments: z.unknown(),
});

export const statusEventDataSchema = z.object({
  status: taskStatusSchema,
  attempt: z.int().min(0).describe('The attempt this status belongs to'),
  error: taskErrorSchema.optional().describe('Why the attempt failed, was cancelled or is retried'),
  worker: z.string().optional().describe('The worker that started the attempt (status running)'),
  retryInMs: z.number().optional().describe('Backoff before the next attempt (status queued after a failure)'),
  stalls: z.int().optional().describe('How often the attempt was found stalled'),
});

export const planEventDataSchema = z.object({
  step: z.int().min(1),
  thought: z.string().optional(),
  calls: z.array(toolCallSchema),
  usage: tokenUsageSchema.optional().describe('Tokens the LLM calls of this decision used'),
  model: z.string().max(200).optional().describe('The model that made this decision, as the config names it'),
});

export const toolCallEventDataSchema = toolCallSchema.extend({ step: z.int().min(1) });

export const toolResultEventDataSchema = toolCallSchema.omit({ arguments: true }).extend({
  step: z.int().min(1),
  ok: z.boolean(),
  output: z.unknown().optional().describe('What the tool returned, when ok'),
  error: taskErrorSchema.optional().describe('Why the call failed, when not ok'),
  durationMs: z.number(),
});

export const finalEventDataSchema = z.object({
  output: z.unknown().describe("The task's answer"),
  step: z.int().min(1).optional().describe('The step that gave the answer'),
  usage: tokenUsageSchema.optional().describe('Tokens the LLM calls of this decision used'),
  model: z.string().max(200).optional().describe('The model that made this decision, as the config names it'),
});

export const logEventDataSchema = z.object({
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
  source: z.string().describe('The tool that logged'),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const handoffEventDataSchema = z.object({
  step: z.int().min(1).describe('The step whose call handed off'),
  callId: z.string().describe("The planner's id of the call (the `agents__<id>` tool call)"),
  childId: taskSchema.shape.id.describe('The child task running the agent called'),
  agent: z.string().describe('The agent the child runs'),
  created: z.boolean().describe('false when the call found the child an earlier attempt had started'),
});

export const approvalRequestedEventDataSchema = z.object({
  step: z.int().min(1).describe('The step whose call waits'),
  callId: z.string().describe("The planner's id of the call that waits for a decision"),
  tool: z.string().describe('Namespaced tool name (`provider__tool`)'),
  arguments: z.unknown().describe('The arguments the planner gave the call'),
  expiresAt: isoTimeSchema.describe('When the request expires: the task then fails with OPSPAWN_APPROVAL_EXPIRED'),
});

export const approvalDecidedEventDataSchema = z.object({
  step: z.int().min(1),
  callId: z.string(),
  decision: z.enum(['approve', 'reject']),
  by: z.string().describe('Who decided: the API key name, or `anonymous` on a host without keys'),
  note: z.string().optional().describe("The decider's note; a rejected call's error carries it"),
  arguments: z.unknown().optional().describe("Arguments the decider replaced the call's with (approve only)"),
});

const envelope = {
  taskId: taskSchema.shape.id,
  seq: z.int().min(1).describe('1, 2, 3… per task, in the order the events were appended'),
  at: isoTimeSchema,
};

export const taskEventSchema = z.discriminatedUnion('type', [
  z.object({ ...envelope, type: z.literal('status'), data: statusEventDataSchema }),
  z.object({ ...envelope, type: z.literal('plan'), data: planEventDataSchema }),
  z.object({ ...envelope, type: z.literal('tool_call'), data: toolCallEventDataSchema }),
  z.object({ ...envelope, type: z.literal('tool_result'), data: toolResultEventDataSchema }),
  z.object({ ...envelope, type: z.literal('final'), data: finalEventDataSchema }),
  z.object({ ...envelope, type: z.literal('log'), data: logEventDataSchema }),
  z.object({ ...envelope, type: z.literal('handoff'), data: handoffEventDataSchema }),
  z.object({ ...envelope, type: z.literal('approval_requested'), data: approvalRequestedEventDataSchema }),
  z.object({ ...envelope, type: z.literal('approval_decided'), data: approvalDecidedEventDataSchema }),
]);

export type TaskEvent = z.infer<typeof taskEventSchema>;
export type TaskEventType = TaskEvent['type'];
/** The data an event of type `T` carries. */
export type TaskEventData<T extends TaskEventType = TaskEventType> = Extract<TaskEvent, { type: T }>['data'];
/** An event before a store numbers and timestamps it: what `TaskStore.appendEvent` receives. */
export type NewTaskEvent = { [T in TaskEventType]: { type: T; data: TaskEventData<T> } }[TaskEventType];

export const TASK_EVENT_TYPES: readonly TaskEventType[] = taskEventSchema.options.map((o) => o.shape.type.value);

/**
 * A fragment of the answer a planner is generating (planner-openai streams them): published live to watchers who
 * asked for deltas, never stored. It has no `seq` of its own: `afterSeq` is the seq of the last stored event before
 * it and `index` counts the deltas since, so a watcher orders it after that event and drops it once a later stored
 * event (the `plan` or `final` holding the whole decision) has been seen. See docs/decisions/0012-streamed-output.md.
 */
export const deltaDataSchema = z.discriminatedUnion('kind', [
  z.object({
    step: z.int().min(1).describe('The step whose decision is being generated'),
    kind: z.literal('text'),
    text: z.string().describe('The next piece of the answer or thought'),
  }),
  z.object({
    step: z.int().min(1),
    kind: z.literal('tool_arguments'),
    callId: z.string().describe('The id of the tool call whose arguments these are'),
    tool: z.string().optional().describe('The tool, once the model has named it'),
    fragment: z.string().describe('The next piece of the JSON text of the arguments'),
  }),
]);

export const taskDeltaSchema = z.object({
  taskId: taskSchema.shape.id,
  type: z.literal('delta'),
  transient: z.literal(true).describe('Never stored: not in the replay, no Last-Event-ID'),
  afterSeq: z.int().min(0).describe('The seq of the last stored event before this delta'),
  index: z.int().min(0).describe('0, 1, 2… among the deltas after `afterSeq`'),
  at: isoTimeSchema,
  data: deltaDataSchema,
});

export type TaskDelta = z.infer<typeof taskDeltaSchema>;
export type TaskDeltaData = TaskDelta['data'];
/** What a watch that asked for deltas yields: the stored events and, between them, the transient deltas. */
export type TaskStreamEvent = TaskEvent | TaskDelta;

/** The data schema of each event type. */
export const taskEventDataSchemas = Object.fromEntries(
  taskEventSchema.options.map((o) => [o.shape.type.value, o.shape.data]),
) as unknown as { [T in TaskEventType]: z.ZodType<TaskEventData<T>> };

/** For the default branch of an exhaustive switch over event types: a type left out fails to compile here. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** An event as a store receives and keeps it: stores do not interpret `data`. */
export interface StoredTaskEvent {
  taskId: string;
  seq: number;
  type: TaskEventType;
  at: string;
  data: Record<string, unknown>;
}

/**
 * A stored event as the typed `TaskEvent` a store hands back. No check: a store returns what the task engine
 * appended, and the engine types each event's data by its type when it emits it.
 */
export function asTaskEvent(event: StoredTaskEvent): TaskEvent {
  return event as TaskEvent;
}
