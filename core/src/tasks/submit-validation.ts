import { createHash } from 'node:crypto';
import { ErrorCodes, OpspawnError, submitTaskSchema, type SubmitTaskRequest } from '@opspawn/plugin-sdk';
import { createAjv, describeAjvError } from '../config/ajv.js';

const validate = createAjv({ useDefaults: false }).compile(submitTaskSchema);

/**
 * How deep a task's input may nest. Planners, stores and hashes walk it, and a recursive walk of an input nested
 * thousands of levels deep overflows the stack: such input is refused here, naming the field, instead.
 */
export const MAX_INPUT_DEPTH = 64;

/** Refuses a malformed request with every problem and its path in `details`. */
export function checkSubmitRequest(request: unknown): asserts request is SubmitTaskRequest {
  const details = validate(request)
    ? beyondTheSchema(request as SubmitTaskRequest)
    : (validate.errors ?? []).map((e) => describeAjvError(e, ''));
  if (details.length === 0) return;
  throw new OpspawnError(
    ErrorCodes.TASK_INVALID,
    `the task request is invalid: ${details.map((d) => `${d.path || 'request'} ${d.message}`).join('; ')}`,
    {
      hint: 'see docs/reference/task-model.md',
      details,
    },
  );
}

/** What JSON Schema cannot say: the input's depth, and a date-time that this server can represent. */
function beyondTheSchema(request: SubmitTaskRequest): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  if (depthExceeds(request.input, MAX_INPUT_DEPTH))
    problems.push({ path: 'input', message: `must not nest deeper than ${MAX_INPUT_DEPTH} levels` });
  // RFC 3339 allows a leap second (23:59:60), which no JavaScript date can hold.
  if (request.notBefore !== undefined && !Number.isFinite(Date.parse(request.notBefore)))
    problems.push({ path: 'notBefore', message: 'must be a date-time this server can represent (not a leap second)' });
  return problems;
}

/** Whether `value` nests deeper than `limit` arrays and objects; walks without recursion, so any depth is safe. */
function depthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Hash of the request without its idempotency key: the same key with another hash is a conflict. */
export function requestHash(request: SubmitTaskRequest): string {
  const { idempotencyKey: _ignored, ...rest } = request;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
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
