import {
  MAX_BATCH_TASKS,
  SCHEDULE_ID_PATTERN,
  createScheduleJsonSchema,
  scheduleJsonSchema,
  submitTaskSchema,
  updateScheduleJsonSchema,
  TASK_ID_PATTERN,
  TASK_STATUSES,
  taskEventJsonSchema,
  taskJsonSchema,
} from '@opspawn/plugin-sdk';
import { problemTypes } from './problems.js';

const problemSchema = {
  type: 'object',
  description: 'An RFC 9457 problem. Every code is listed, with how to fix it, in docs/reference/errors.md.',
  required: ['type', 'title', 'status', 'detail', 'code', 'hint'],
  properties: {
    type: { type: 'string', format: 'uri', description: "The code's section in the errors reference" },
    title: { type: 'string', description: 'What the code means' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What happened this time' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'The Opspawn error code, e.g. OPSPAWN_TASK_NOT_FOUND' },
    hint: { type: 'string', description: 'How to fix it' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const taskRef = { $ref: '#/components/schemas/Task' };
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: TASK_ID_PATTERN.source } };
/** One result per task of a batch, in the order submitted. */
const batchResultsSchema = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['task', 'created'],
            properties: {
              task: taskRef,
              created: { type: 'boolean', description: 'false: a replayed idempotency key' },
            },
          },
          {
            type: 'object',
            required: ['error'],
            description: 'This task was not submitted: its idempotency key was used before with another request',
            properties: {
              error: {
                type: 'object',
                required: ['code', 'message', 'hint'],
                properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
              },
            },
          },
        ],
      },
    },
  },
};
const agentRef = { $ref: '#/components/schemas/Agent' };
const agentSchema = {
  type: 'object',
  description: "An agent from the deployment's config: a planner, a memory, a tool scope and limits under one name",
  required: ['id', 'planner', 'memory', 'tools', 'limits', 'labels'],
  properties: {
    id: { type: 'string' },
    description: { type: 'string' },
    planner: { type: 'string', description: 'Planner plugin id' },
    memory: { type: 'string', description: 'Memory plugin id' },
    tools: {
      type: 'array',
      items: { type: 'string' },
      description: 'Namespaced tool names and globs (`*` matches any characters) the agent may use',
    },
    limits: {
      type: 'object',
      description: "Defaults of its tasks' maxSteps, timeoutMs and maxAttempts",
      properties: {
        maxSteps: { type: 'integer' },
        timeoutMs: { type: 'integer' },
        maxAttempts: { type: 'integer' },
      },
    },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
  },
};
const secured = [{ apiKey: [] }];
/** Health and the document itself answer without a key: probes and client generators have none. */
const open: never[] = [];

/**
 * The OpenAPI 3.1 document. Its task, event and submission schemas are the SDK's, derived from the one
 * description of the task shape the task engine validates with, so the document and the behaviour cannot drift.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Opspawn task API',
      version,
      description: 'Submit, list, cancel and watch agent tasks. Errors are RFC 9457 problem details.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://127.0.0.1:8080' }],
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from the deployment config; scopes read, submit, admin.',
        },
      },
      schemas: {
        SubmitTaskRequest: submitTaskSchema,
        Task: taskJsonSchema,
        TaskEvent: taskEventJsonSchema,
        Problem: problemSchema,
        Agent: agentSchema,
        Schedule: scheduleJsonSchema,
        CreateScheduleRequest: createScheduleJsonSchema,
        UpdateScheduleRequest: updateScheduleJsonSchema,
        TaskPage: {
          type: 'object',
          required: ['tasks'],
          properties: { tasks: { type: 'array', items: taskRef }, nextCursor: { type: 'string' } },
        },
      },
    },
    'x-problem-types': problemTypes(),
    paths: {
      '/v1/tasks': {
        post: {
          operationId: 'submitTask',
          summary: 'Submit a task',
          security: secured,
          tags: ['tasks'],
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 200 },
              description:
                'Same key and same body: the same task (200, Idempotent-Replayed: true). Same key, other body: 409.',
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/SubmitTaskRequest' } } },
          },
          responses: {
            202: { ...json('Accepted and queued', taskRef), headers: { Location: { schema: { type: 'string' } } } },
            200: json('Replay of an earlier submission with the same Idempotency-Key', taskRef),
            400: problem('Invalid request, with field errors'),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the submit scope'),
            404: problem('The agent named is not in this deployment (the message names the known ones)'),
            409: problem('Idempotency key reused with another body'),
            413: problem('Body too large'),
            415: problem('Not application/json'),
          },
        },
        get: {
          operationId: 'listTasks',
          summary: 'List tasks, newest first',
          security: secured,
          tags: ['tasks'],
          parameters: [
            {
              name: 'status',
              in: 'query',
              schema: { type: 'array', items: { enum: [...TASK_STATUSES] } },
              style: 'form',
              explode: true,
              description: 'Any of these statuses (repeat, or comma-separated)',
            },
            {
              name: 'label',
              in: 'query',
              schema: { type: 'array', items: { type: 'string', pattern: '^[^=]+=.*$' } },
              style: 'form',
              explode: true,
              description: 'key=value; all must match',
            },
            {
              name: 'parentId',
              in: 'query',
              schema: { type: 'string', pattern: TASK_ID_PATTERN.source },
              description: 'Only the children of this task (the tasks its agent handed off to)',
            },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'nextCursor of the previous page' },
          ],
          responses: {
            200: json('A page of tasks', { $ref: '#/components/schemas/TaskPage' }),
            400: problem('Bad filter, limit or cursor'),
            401: problem('No or unknown API key'),
          },
        },
      },
      '/v1/tasks/{id}': {
        get: {
          operationId: 'getTask',
          summary: 'One task',
          security: secured,
          tags: ['tasks'],
          parameters: [idParam],
          responses: { 200: json('The task', taskRef), 404: problem('No such task') },
        },
      },
      '/v1/tasks/batch': {
        post: {
          operationId: 'submitTaskBatch',
          summary: `Submit up to ${MAX_BATCH_TASKS} tasks at once`,
          description:
            "Checked whole, then written together: one invalid task, or two tasks with one idempotencyKey, refuses the batch (400, `errors` naming `tasks[i].field`) and nothing is written. Each idempotencyKey keeps its meaning per task: a replay answers the earlier task with created false; a key used before with another request answers that task's own error (OPSPAWN_IDEMPOTENCY_CONFLICT), the other tasks are submitted. The Idempotency-Key header is refused: keys go on each task.",
          security: secured,
          tags: ['tasks'],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['tasks'],
                  additionalProperties: false,
                  properties: {
                    tasks: {
                      type: 'array',
                      minItems: 1,
                      maxItems: MAX_BATCH_TASKS,
                      items: { $ref: '#/components/schemas/SubmitTaskRequest' },
                    },
                  },
                },
              },
            },
          },
          responses: {
            202: json('At least one task was created', batchResultsSchema),
            200: json('No task was created: every one replays an idempotency key or conflicts', batchResultsSchema),
            400: problem('Invalid batch or task, with field errors (tasks[i].field); nothing was written'),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the submit scope'),
            404: problem('An agent named is not in this deployment; nothing was written'),
            413: problem('Body too large'),
            415: problem('Not application/json'),
          },
        },
      },
      '/v1/tasks/{id}/cancel': {
        post: {
          operationId: 'cancelTask',
          summary: 'Cancel a queued or running task',
          security: secured,
          tags: ['tasks'],
          parameters: [idParam],
          responses: {
            200: json('The task after the request', taskRef),
            404: problem('No such task'),
            409: problem('Already finished'),
          },
        },
      },
      '/v1/tasks/{id}/approvals/{callId}': {
        post: {
          operationId: 'decideToolCall',
          summary: 'Approve or reject a tool call the task waits on (status waiting_approval)',
          description:
            'Records an approval_decided event naming the API key and queues the task again: it resumes at the call, run with `arguments` when given (approve), or given a OPSPAWN_TOOL_CALL_REJECTED error as its result (reject). Needs the submit scope.',
          security: secured,
          tags: ['tasks'],
          parameters: [
            idParam,
            {
              name: 'callId',
              in: 'path',
              required: true,
              schema: { type: 'string' },
              description: "The call's id, from the task's approval_requested event",
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['decision'],
                  properties: {
                    decision: { enum: ['approve', 'reject'] },
                    note: { type: 'string', maxLength: 2000 },
                    arguments: { description: 'Approve only: the arguments the call runs with instead' },
                  },
                },
              },
            },
          },
          responses: {
            200: json('The task, queued again', taskRef),
            400: problem('A bad decision body'),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the submit scope'),
            404: problem('No such task, or the task never asked about this call'),
            409: problem('The call does not wait: decided already, expired, or the task moved on'),
          },
        },
      },
      '/v1/tasks/{id}/events': {
        get: {
          operationId: 'taskEvents',
          summary: "A task's events: JSON replay, or a live server-sent event stream",
          security: secured,
          tags: ['tasks'],
          parameters: [
            idParam,
            {
              name: 'after',
              in: 'query',
              schema: { type: 'integer', minimum: 0 },
              description: 'Only events with a greater seq (also the Last-Event-ID header)',
            },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
            {
              name: 'deltas',
              in: 'query',
              schema: { type: 'boolean', default: true },
              description:
                'Stream only: false leaves out the transient `delta` events (the answer as a streaming planner generates it)',
            },
          ],
          responses: {
            200: {
              description:
                'With Accept: text/event-stream, a stream of `id: <seq>`, `event: <type>`, `data: <TaskEvent JSON>` until the final status event, with heartbeat comments, and between them (unless deltas=false) `event: delta`, `data: <delta JSON>` without an id: live fragments of the answer, never stored or replayed (docs/reference/task-model.md, Deltas); otherwise a JSON replay of the stored events.',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { events: { type: 'array', items: { $ref: '#/components/schemas/TaskEvent' } } },
                  },
                },
                'text/event-stream': { schema: { type: 'string' } },
              },
            },
            404: problem('No such task'),
          },
        },
      },
      '/v1/plugins': {
        get: {
          operationId: 'listPlugins',
          summary: "The deployment's plugins and their status",
          security: secured,
          tags: ['host'],
          responses: {
            200: json('Plugins', {
              type: 'object',
              properties: { plugins: { type: 'array', items: { type: 'object' } } },
            }),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the read scope'),
          },
        },
      },
      '/v1/agents': {
        get: {
          operationId: 'listAgents',
          summary: "The deployment's agents, sorted by id",
          security: secured,
          tags: ['agents'],
          responses: {
            200: json('Agents', {
              type: 'object',
              required: ['agents'],
              properties: { agents: { type: 'array', items: agentRef } },
            }),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the read scope'),
          },
        },
      },
      '/v1/agents/{id}': {
        get: {
          operationId: 'getAgent',
          summary: 'One agent',
          security: secured,
          tags: ['agents'],
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: json('The agent', agentRef),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the read scope'),
            404: problem('No such agent (the message names the known ones)'),
          },
        },
      },
      '/v1/tools': {
        get: {
          operationId: 'listTools',
          summary: 'The tools agents can call',
          security: secured,
          tags: ['host'],
          responses: {
            200: json('Tools', { type: 'object', properties: { tools: { type: 'array', items: { type: 'object' } } } }),
            401: problem('No or unknown API key'),
            403: problem('The key lacks the read scope'),
          },
        },
      },
      ...schedulePaths(),
      '/healthz': {
        get: {
          operationId: 'liveness',
          security: open,
          summary: 'Liveness (open)',
          tags: ['host'],
          responses: { 200: json('Alive', { type: 'object' }) },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readiness',
          security: open,
          summary: 'Readiness from every plugin (open)',
          tags: ['host'],
          responses: {
            200: json('Ready', { type: 'object' }),
            503: json('Not ready, with the failing checks', { type: 'object' }),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          security: open,
          summary: 'This document (open)',
          tags: ['host'],
          responses: { 200: json('OpenAPI 3.1', { type: 'object' }) },
        },
      },
    },
  };
}

const scheduleRef = { $ref: '#/components/schemas/Schedule' };
const scheduleIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: SCHEDULE_ID_PATTERN.source },
};
const scheduleErrors = {
  401: problem('No or unknown API key'),
  403: problem('The key lacks the scope'),
};
const scheduleBody = (name: string) => ({
  required: true,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } },
});

/** The schedule routes: CRUD, pause and resume (docs/how-to/run-agents-on-a-schedule.md). */
function schedulePaths(): Record<string, unknown> {
  const action = (operationId: string, summary: string) => ({
    post: {
      operationId,
      summary,
      security: secured,
      tags: ['schedules'],
      parameters: [scheduleIdParam],
      responses: { 200: json('The schedule', scheduleRef), ...scheduleErrors, 404: problem('No such schedule') },
    },
  });
  return {
    '/v1/schedules': {
      get: {
        operationId: 'listSchedules',
        summary: 'Every schedule, by id (read scope)',
        security: secured,
        tags: ['schedules'],
        responses: {
          200: json('Schedules', {
            type: 'object',
            required: ['schedules'],
            properties: { schedules: { type: 'array', items: scheduleRef } },
          }),
          ...scheduleErrors,
        },
      },
      post: {
        operationId: 'createSchedule',
        summary:
          'Create a schedule: a cron expression with a time zone, or everyMs, and the task each fire submits (admin scope)',
        security: secured,
        tags: ['schedules'],
        requestBody: scheduleBody('CreateScheduleRequest'),
        responses: {
          201: json('Created', scheduleRef),
          400: problem(
            'Invalid fields (an invalid cron expression or time zone, both or neither of cron and everyMs): OPSPAWN_SCHEDULE_INVALID names each',
          ),
          ...scheduleErrors,
          404: problem('No such agent (the message names the known ones)'),
          409: problem('The id is taken'),
        },
      },
    },
    '/v1/schedules/{id}': {
      get: {
        operationId: 'getSchedule',
        summary: 'One schedule, with its next due time and last fire (read scope)',
        security: secured,
        tags: ['schedules'],
        parameters: [scheduleIdParam],
        responses: { 200: json('The schedule', scheduleRef), ...scheduleErrors, 404: problem('No such schedule') },
      },
      patch: {
        operationId: 'updateSchedule',
        summary: 'Change an API schedule; a new timing computes the next due time from now (admin scope)',
        security: secured,
        tags: ['schedules'],
        parameters: [scheduleIdParam],
        requestBody: scheduleBody('UpdateScheduleRequest'),
        responses: {
          200: json('The schedule', scheduleRef),
          400: problem('Invalid fields'),
          ...scheduleErrors,
          404: problem('No such schedule or agent'),
          409: problem('A schedule declared in the config: change it there'),
        },
      },
      delete: {
        operationId: 'deleteSchedule',
        summary: 'Delete an API schedule; tasks it submitted stay (admin scope)',
        security: secured,
        tags: ['schedules'],
        parameters: [scheduleIdParam],
        responses: {
          204: { description: 'Deleted' },
          ...scheduleErrors,
          404: problem('No such schedule'),
          409: problem('A schedule declared in the config: remove it there'),
        },
      },
    },
    '/v1/schedules/{id}/pause': action('pauseSchedule', 'Pause: no fire until resumed (admin scope)'),
    '/v1/schedules/{id}/resume': action(
      'resumeSchedule',
      'Resume: the next due time is computed from now, so due times passed while paused do not fire (admin scope)',
    ),
  };
}
