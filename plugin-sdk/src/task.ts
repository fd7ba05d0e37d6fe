/**
 * The task model shared by every store, broker, planner and transport, described once as zod schemas. The
 * TypeScript types below, the JSON Schema the engine validates submissions with and the OpenAPI components all
 * derive from these; `test/plugin-sdk/task-shape.test.ts` checks the gRPC mapping and every store against them.
 * Timestamps are ISO-8601 strings. To add a field, see docs/reference/task-model.md.
 */
import * as z from 'zod';
import { TASK_ID_PATTERN } from './task-id.js';

/**
 * `waiting_approval`: an attempt stopped before a tool call that needs a person's approval; no worker holds the task
 * until a decision queues it again (docs/how-to/approve-tool-calls.md).
 */
export const TASK_STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled'] as const;
export const FINAL_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'cancelled'];

export function isFinalStatus(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** An ISO-8601 time with `Z` or an offset. */
export const isoTimeSchema = z.iso.datetime({ offset: true });

export const taskStatusSchema = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof taskStatusSchema>;

export const taskErrorSchema = z.object({
  code: z.string().describe('A stable code such as OPSPAWN_TASK_TIMEOUT'),
  message: z.string(),
});
export type TaskError = z.infer<typeof taskErrorSchema>;

/** Tokens that LLM calls used, as the provider reported them. */
export const tokenUsageSchema = z.object({
  inputTokens: z.int().min(0).describe('Prompt tokens, cached ones included'),
  outputTokens: z.int().min(0).describe('Completion tokens, reasoning included'),
  llmCalls: z.int().min(0).describe('LLM calls that reported usage'),
});
export type TokenUsage = z.infer<typeof tokenUsageSchema>;

const labelsSchema = z
  .record(z.string().min(1).max(100), z.string().max(500))
  .refine((labels) => Object.keys(labels).length <= 50, 'must NOT have more than 50 properties')
  .meta({ maxProperties: 50 });

export const taskSchema = z.object({
  id: z
    .string()
    .regex(TASK_ID_PATTERN)
    .describe('Time-sortable id (`task_` + 26 Crockford base-32 characters); newer tasks sort after older ones'),
  goal: z.string().min(1).max(10_000).describe('What the agent should achieve'),
  input: z.unknown().describe('Free-form JSON handed to the planner (a scripted planner reads its plan here)'),
  planner: z.string().min(1).max(100).describe('Name of the planner (its plugin id) that drives this task'),
  memory: z.string().min(1).max(100).describe("Name of the memory (its plugin id) that keeps the session's messages"),
  agent: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe("Id of the agent the task runs (its planner, tools and limits come from the config's agents)"),
  parentId: z
    .string()
    .regex(TASK_ID_PATTERN)
    .optional()
    .describe('The task whose agent handed off to this one (an agent called as a tool); absent for a top-level task'),
  sessionId: z
    .string()
    .min(1)
    .max(200)
    .describe('Conversation the task belongs to; tasks of one session share memory. Defaults to the task id'),
  status: taskStatusSchema,
  output: z.unknown().optional().describe('The final answer; set when the task succeeded'),
  error: taskErrorSchema.optional().describe('Why the last attempt failed'),
  usage: tokenUsageSchema
    .optional()
    .describe(
      "Tokens the task's LLM calls used, summed over every step of every attempt; absent until a planner reports usage",
    ),
  attempts: z.int().min(0).describe('Attempts started so far (1 while the first attempt runs)'),
  maxAttempts: z.int().min(1).max(100),
  timeoutMs: z.int().min(1).max(86_400_000).describe('Per-attempt deadline in milliseconds'),
  maxSteps: z.int().min(1).max(10_000),
  priority: z.int().min(-10).max(10).describe('Higher runs first; 0 is normal'),
  idempotencyKey: z.string().min(1).max(200).optional(),
  requestHash: z
    .string()
    .optional()
    .describe('Hash of the submitted request, to refuse an idempotency key reused with a different payload'),
  labels: labelsSchema,
  notBefore: isoTimeSchema.optional().describe('The task is not started before this time'),
  cancelRequested: z.boolean().describe('Set when cancellation was asked for while the task was running'),
  createdAt: isoTimeSchema,
  updatedAt: isoTimeSchema,
  startedAt: isoTimeSchema.optional(),
  finishedAt: isoTimeSchema.optional(),
  leaseExpiresAt: isoTimeSchema
    .optional()
    .describe(
      "While running: when the attempt's lease ends unless its worker renews it; a task whose lease ran out is taken back from a worker that died, whatever its timeout",
    ),
});
export type Task = z.infer<typeof taskSchema>;

/**
 * The fields of a task that never change once it is created: what a consumer needs to label what it counts (an
 * agent, a planner) without reading the whole task back.
 */
export type TaskIdentity = Pick<Task, 'id' | 'planner' | 'memory' | 'sessionId' | 'createdAt' | 'agent' | 'parentId'>;

/** Fields stores keep for the engine but transports do not show: a task as clients see it has every other one. */
export const INTERNAL_TASK_FIELDS = ['requestHash'] as const satisfies readonly (keyof Task)[];

/** A task as REST and gRPC clients see it. */
export const publicTaskSchema = taskSchema.omit({ requestHash: true });

/** What a caller submits. Everything but `goal` has a default; unknown fields are refused. */
export const submitTaskRequestSchema = taskSchema
  .pick({
    goal: true,
    input: true,
    planner: true,
    memory: true,
    agent: true,
    sessionId: true,
    labels: true,
    priority: true,
    maxAttempts: true,
    timeoutMs: true,
    maxSteps: true,
    notBefore: true,
    idempotencyKey: true,
  })
  .partial({
    input: true,
    planner: true,
    memory: true,
    agent: true,
    sessionId: true,
    labels: true,
    priority: true,
    maxAttempts: true,
    timeoutMs: true,
    maxSteps: true,
    notBefore: true,
    idempotencyKey: true,
  })
  .strict();
export type SubmitTaskRequest = z.infer<typeof submitTaskRequestSchema>;

/** Most tasks one batch submit (`TaskService.submitBatch`, `POST /v1/tasks/batch`, gRPC SubmitBatch) takes. */
export const MAX_BATCH_TASKS = 100;

export interface TaskQuery {
  status?: TaskStatus[];
  /** Every label given must match exactly. */
  labels?: Record<string, string>;
  /** Only the children of this task: the tasks its agent started by handing off. */
  parentId?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** Opaque; the `nextCursor` of the previous page. */
  cursor?: string;
}

export interface TaskPage {
  tasks: Task[];
  /** Absent on the last page. */
  nextCursor?: string;
}
