import { createHash } from 'node:crypto';
import { ErrorCodes, OpspawnError, submitTaskSchema, type SubmitTaskRequest } from '@opspawn/plugin-sdk';
import { createAjv, describeAjvError } from '../config/ajv.js';

const validate = createAjv({ useDefaults: false }).compile(submitTaskSchema);

/** Refuses a malformed request with every problem and its path in `details`. */
export function checkSubmitRequest(request: unknown): asserts request is SubmitTaskRequest {
  if (validate(request)) return;
  const details = (validate.errors ?? []).map((e) => describeAjvError(e, ''));
  throw new OpspawnError(
    ErrorCodes.TASK_INVALID,
    `the task request is invalid: ${details.map((d) => `${d.path || 'request'} ${d.message}`).join('; ')}`,
    {
      hint: 'see docs/reference/task-model.md',
      details,
    },
  );
}

/** Hash of the request without its idempotency key: the same key with another hash is a conflict. */
export function requestHash(request: SubmitTaskRequest): string {
  const { idempotencyKey: _ignored, ...rest } = request;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
