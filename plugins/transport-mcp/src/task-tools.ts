import {
  ErrorCodes,
  INTERNAL_TASK_FIELDS,
  OpspawnError,
  TASK_ID_PATTERN,
  TASK_STATUSES,
  errorDefinition,
  isFinalStatus,
  isOpspawnError,
  submitTaskSchema,
  taskJsonSchema,
  type SubmitTaskRequest,
  type Task,
} from '@opspawn/plugin-sdk';
import * as z from 'zod';
import { describeEvent } from './describe-event.js';
import type { TaskApi } from './task-api.js';
import type { AgentToolName, TaskToolName } from './task-tool-names.js';

/** What a tool call gets besides its arguments: the MCP request's cancellation and progress. */
export interface ToolCallContext {
  /** Aborted when the client cancels the request (`notifications/cancelled`) or the session closes. */
  signal: AbortSignal;
  /** Sends `notifications/progress` when the client asked for progress (it sent a progressToken); else nothing. */
  progress(progress: number, message: string): Promise<void>;
}

/** A tool's answer: `structured` is the `structuredContent` (matching `outputSchema`), `text` its text content. */
export interface ToolAnswer {
  structured: Record<string, unknown>;
  text: string;
  isError?: boolean;
}

/** One MCP tool over the task API; both the plugin (in-process) and `opspawn mcp` (over REST) serve these. */
export interface TaskTool {
  name: TaskToolName | AgentToolName;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  call(args: Record<string, unknown>, context: ToolCallContext): Promise<ToolAnswer>;
}

export interface TaskToolOptions {
  /** How long `run_task` waits for the answer before it returns the task as it stands. */
  waitLimitMs: number;
}

const taskIdSchema = z.string().regex(TASK_ID_PATTERN).describe('A task id: task_ + 26 characters');
const getTaskArgs = z.object({ id: taskIdSchema }).strict();
const listTasksArgs = z
  .object({
    status: z.array(z.enum(TASK_STATUSES)).optional().describe('Only tasks in these statuses'),
    labels: z.record(z.string(), z.string()).optional().describe('Only tasks with all these labels'),
    limit: z.int().min(1).max(500).optional().describe('Page size, default 50'),
    cursor: z.string().optional().describe('nextCursor of the previous page'),
  })
  .strict();

const errorJsonSchema = {
  type: 'object',
  required: ['code', 'message', 'hint'],
  properties: {
    code: { type: 'string', description: 'An Opspawn error code, e.g. OPSPAWN_TASK_NOT_FOUND' },
    message: { type: 'string' },
    hint: { type: 'string', description: 'How to fix it' },
    details: { description: 'Field problems, when the request was invalid' },
  },
};

/**
 * Structured output is an envelope: `{ task }` (or `{ tasks, nextCursor }`) when the call worked, `{ error }` when
 * it was refused. The MCP SDK's client validates `structuredContent` against `outputSchema` even on an error result,
 * so the error shape has to be part of the schema.
 */
function envelope(properties: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: { ...properties, error: errorJsonSchema },
    oneOf: [{ required }, { required: ['error'] }],
  };
}

export const taskOutput = envelope({ task: taskJsonSchema }, ['task']);
const listOutput = envelope({ tasks: { type: 'array', items: taskJsonSchema }, nextCursor: { type: 'string' } }, [
  'tasks',
]);

/** The task tools, in the order clients list them. */
export function taskTools(api: TaskApi, options: TaskToolOptions): TaskTool[] {
  return [
    {
      name: 'submit_task',
      title: 'Submit a task',
      description:
        'Submits a task to the Opspawn host and returns it at once (status queued). Follow it with get_task, or read ' +
        'and subscribe to the resource opspawn://tasks/{id}. Send the same idempotencyKey again to get the same task.',
      inputSchema: submitTaskSchema,
      outputSchema: taskOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      call: async (args) => answerTask((await api.submit(args as SubmitTaskRequest)).task, 'submitted'),
    },
    {
      name: 'run_task',
      title: 'Run a task and wait',
      description:
        'Submits a task and waits for its answer, sending a progress notification per step when asked for progress. ' +
        `After ${Math.round(options.waitLimitMs / 1000)} s it returns the task still running (its id and status) ` +
        'instead of holding the call: follow it with get_task or the resource opspawn://tasks/{id}. Cancelling ' +
        'the call cancels the task.',
      inputSchema: submitTaskSchema,
      outputSchema: taskOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      call: (args, context) => runTask(api, args as SubmitTaskRequest, context, options.waitLimitMs),
    },
    {
      name: 'get_task',
      title: 'Get a task',
      description: 'Returns a task: its status, attempts, and its output or error once it has ended.',
      inputSchema: jsonSchema(getTaskArgs),
      outputSchema: taskOutput,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      call: async (args) => answerTask(await api.get(parse(getTaskArgs, args).id)),
    },
    {
      name: 'list_tasks',
      title: 'List tasks',
      description: 'Lists tasks, newest first, filtered by status and labels; pass nextCursor back for the next page.',
      inputSchema: jsonSchema(listTasksArgs),
      outputSchema: listOutput,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      call: async (args) => {
        const page = await api.list(parse(listTasksArgs, args));
        const tasks = page.tasks.map(publicTask);
        return {
          structured: { tasks, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) },
          text:
            tasks.length === 0
              ? 'no tasks'
              : `${tasks.map((t) => `${t.id} ${t.status} ${t.goal}`).join('\n')}${page.nextCursor ? `\nmore: nextCursor ${page.nextCursor}` : ''}`,
        };
      },
    },
    {
      name: 'cancel_task',
      title: 'Cancel a task',
      description:
        'Cancels a queued task at once, or asks a running one to stop (its status becomes cancelled when its worker ' +
        'has aborted it). A task that has already ended is refused with OPSPAWN_TASK_NOT_CANCELLABLE.',
      inputSchema: jsonSchema(getTaskArgs),
      outputSchema: taskOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      call: async (args) => answerTask(await api.cancel(parse(getTaskArgs, args).id), 'cancellation requested'),
    },
  ];
}

/**
 * Submits, follows the task's events (as progress) until it ends, the wait limit passes or the client cancels.
 * `answerEnded` words the answer of a task that ended within the wait (the agent tools lead with its output).
 */
export async function runTask(
  api: TaskApi,
  request: SubmitTaskRequest,
  context: ToolCallContext,
  waitLimitMs: number,
  answerEnded: (task: Task) => ToolAnswer = (task) => answerTask(task),
): Promise<ToolAnswer> {
  const { task } = await api.submit(request);
  const stop = new AbortController();
  const waited = setTimeout(() => stop.abort(), waitLimitMs);
  const onCancel = () => stop.abort();
  context.signal.addEventListener('abort', onCancel, { once: true });
  try {
    for await (const event of api.watch(task.id, { signal: stop.signal })) {
      await context.progress(event.seq, describeEvent(event)).catch(() => undefined);
      // Only a person can move a waiting task on: waiting here would hold the call until the wait limit.
      if (event.type === 'status' && event.data.status === 'waiting_approval') stop.abort();
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    clearTimeout(waited);
    context.signal.removeEventListener('abort', onCancel);
  }
  if (context.signal.aborted) {
    // The client cancelled the call: the task goes with it (the SDK sends no answer to a cancelled request).
    const cancelled = await api.cancel(task.id).catch((error: unknown) => {
      if (isOpspawnError(error) && error.code === ErrorCodes.TASK_NOT_CANCELLABLE) return api.get(task.id);
      throw error;
    });
    return answerTask(cancelled, 'cancelled with the call');
  }
  const now = await api.get(task.id);
  if (isFinalStatus(now.status)) return answerEnded(now);
  if (now.status === 'waiting_approval')
    return {
      structured: { task: publicTask(now) },
      text:
        `${now.id} waits for a person to approve a tool call (its approval_requested event names the call), so the ` +
        `call returns without its answer. Once decided (opspawn tasks approve|reject, or POST /v1/tasks/${now.id}/approvals/<callId>), ` +
        `follow it with get_task {"id":"${now.id}"}, or read and subscribe to opspawn://tasks/${now.id}.\n` +
        JSON.stringify(publicTask(now)),
    };
  return {
    structured: { task: publicTask(now) },
    text:
      `${now.id} is still ${now.status} after ${waitLimitMs} ms, so the call returns without its answer. ` +
      `Follow it with get_task {"id":"${now.id}"}, or read and subscribe to opspawn://tasks/${now.id}.\n` +
      JSON.stringify(publicTask(now)),
  };
}

/** A task as the answer of a tool: a failed or cancelled task is an error result carrying the task. */
export function answerTask(task: Task, what?: string): ToolAnswer {
  const shown = publicTask(task);
  const failed = task.status === 'failed' || task.status === 'cancelled';
  const head = failed
    ? `${task.id} ${task.status}${task.error ? `: ${task.error.code}: ${task.error.message} (fix: ${fixFor(task.error.code)})` : ''}`
    : `${task.id} ${task.status}${what ? ` (${what})` : ''}`;
  return {
    structured: { task: shown },
    text: `${head}\n${JSON.stringify(shown)}`,
    ...(failed ? { isError: true } : {}),
  };
}

function fixFor(code: string): string {
  return errorDefinition(code)?.hint ?? 'see the task events for the cause';
}

/** A task as clients see it: without the fields stores keep for the engine only. */
export function publicTask(task: Task): Omit<Task, (typeof INTERNAL_TASK_FIELDS)[number]> {
  const shown: Record<string, unknown> = { ...task };
  for (const field of INTERNAL_TASK_FIELDS) delete shown[field];
  return shown as Omit<Task, (typeof INTERNAL_TASK_FIELDS)[number]>;
}

/** A refusal as a tool result: the code, message and fix in the text and in `structuredContent.error`. */
export function errorAnswer(error: unknown): ToolAnswer {
  const known = isOpspawnError(error) ? error : undefined;
  const code = known?.code ?? ErrorCodes.INTERNAL;
  const message = known?.message ?? 'the server failed to handle this call; see its logs';
  const hint = known?.hint ?? errorDefinition(ErrorCodes.INTERNAL)!.hint;
  const details = known?.details;
  return {
    isError: true,
    structured: { error: { code, message, hint, ...(details === undefined ? {} : { details }) } },
    text: `${code}: ${message} (fix: ${hint})`,
  };
}

export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input' });
  return rest;
}

export function parse<T>(schema: z.ZodType<T>, args: Record<string, unknown>): T {
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const idProblem = details.find((d) => d.path === 'id');
  if (idProblem && typeof args.id === 'string')
    throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task ${args.id.slice(0, 60)}`, {
      hint: 'task ids look like task_01J...',
    });
  throw new OpspawnError(
    ErrorCodes.INVALID_REQUEST,
    details.map((d) => `${d.path || 'arguments'}: ${d.message}`).join('; '),
    { details },
  );
}
