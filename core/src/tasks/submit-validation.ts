import { createHash } from 'node:crypto';
import { ErrorCodes, OpspawnError, type SubmitTaskRequest } from '@opspawn/plugin-sdk';
import { createAjv, describeAjvError } from '../config/ajv.js';

export const submitTaskSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['goal'],
  properties: {
    goal: { type: 'string', minLength: 1, maxLength: 10_000 },
    input: {},
    planner: { type: 'string', minLength: 1, maxLength: 100 },
    memory: { type: 'string', minLength: 1, maxLength: 100 },
    sessionId: { type: 'string', minLength: 1, maxLength: 200 },
    labels: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { minLength: 1, maxLength: 100 },
      additionalProperties: { type: 'string', maxLength: 500 },
    },
    priority: { type: 'integer', minimum: -10, maximum: 10 },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
    maxSteps: { type: 'integer', minimum: 1, maximum: 10_000 },
    notBefore: { type: 'string', format: 'date-time' },
    idempotencyKey: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

const validate = createAjv({ useDefaults: false }).compile(submitTaskSchema);

/** Refuses a malformed request with every problem and its path in `details`. */
export function checkSubmitRequest(request: unknown): asserts request is SubmitTaskRequest {
  if (validate(request)) return;
  const details = (validate.errors ?? []).map((e) => describeAjvError(e, ''));
  throw new OpspawnError(ErrorCodes.TASK_INVALID, `the task request is invalid: ${details.map((d) => `${d.path || 'request'} ${d.message}`).join('; ')}`, {
    hint: 'see docs/reference/task-model.md', details,
  });
}

/** Hash of the request without its idempotency key: the same key with another hash is a conflict. */
export function requestHash(request: SubmitTaskRequest): string {
  const { idempotencyKey: _ignored, ...rest } = request;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
