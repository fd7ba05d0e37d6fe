import { ErrorCodes, isOpspawnError } from '@opspawn/plugin-sdk';

/** An RFC 9457 problem. `type` is stable: clients may switch on it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  errors?: Array<{ path: string; message: string }>;
}

const BASE = 'https://opspawn.dev/problems/';

/** Opspawn codes as HTTP statuses and problem types: the same mapping gRPC uses for its status codes. */
const MAPPING: Record<string, { status: number; slug: string; title: string }> = {
  [ErrorCodes.TASK_INVALID]: { status: 400, slug: 'invalid-task', title: 'The task request is invalid' },
  [ErrorCodes.INVALID_REQUEST]: { status: 400, slug: 'invalid-request', title: 'The request is invalid' },
  [ErrorCodes.PLANNER_UNKNOWN]: { status: 400, slug: 'unknown-planner', title: 'No such planner' },
  [ErrorCodes.MEMORY_UNKNOWN]: { status: 400, slug: 'unknown-memory', title: 'No such memory' },
  [ErrorCodes.TASK_NOT_FOUND]: { status: 404, slug: 'task-not-found', title: 'No such task' },
  [ErrorCodes.IDEMPOTENCY_CONFLICT]: {
    status: 409,
    slug: 'idempotency-conflict',
    title: 'Idempotency key reused with another request',
  },
  [ErrorCodes.TASK_NOT_CANCELLABLE]: {
    status: 409,
    slug: 'task-not-cancellable',
    title: 'The task has already finished',
  },
  [ErrorCodes.UNAUTHENTICATED]: { status: 401, slug: 'unauthenticated', title: 'Authentication required' },
  [ErrorCodes.FORBIDDEN]: { status: 403, slug: 'forbidden', title: 'Not allowed for this key' },
};

export const HTTP_PROBLEMS = {
  notFound: { status: 404, slug: 'not-found', title: 'No such route', code: 'OPSPAWN_NOT_FOUND' },
  methodNotAllowed: {
    status: 405,
    slug: 'method-not-allowed',
    title: 'Method not allowed',
    code: 'OPSPAWN_METHOD_NOT_ALLOWED',
  },
  tooLarge: { status: 413, slug: 'body-too-large', title: 'Request body too large', code: 'OPSPAWN_BODY_TOO_LARGE' },
  unsupportedType: {
    status: 415,
    slug: 'unsupported-media-type',
    title: 'Only application/json bodies are accepted',
    code: 'OPSPAWN_UNSUPPORTED_MEDIA_TYPE',
  },
  badJson: { status: 400, slug: 'malformed-json', title: 'The body is not valid JSON', code: 'OPSPAWN_MALFORMED_JSON' },
  internal: { status: 500, slug: 'internal', title: 'Internal error', code: 'OPSPAWN_INTERNAL' },
} as const;

export function httpProblem(kind: keyof typeof HTTP_PROBLEMS, detail: string, instance?: string): Problem {
  const p = HTTP_PROBLEMS[kind];
  return { type: BASE + p.slug, title: p.title, status: p.status, detail, instance, code: p.code };
}

/** The problem for anything a handler threw; unknown errors are a generic 500 (details stay in the logs). */
export function toProblem(error: unknown, instance: string): Problem {
  if (isOpspawnError(error) && MAPPING[error.code]) {
    const m = MAPPING[error.code]!;
    const errors = Array.isArray(error.details)
      ? (error.details as Array<{ path: string; message: string }>)
      : undefined;
    return {
      type: BASE + m.slug,
      title: m.title,
      status: m.status,
      detail: error.message,
      instance,
      code: error.code,
      ...(errors ? { errors } : {}),
    };
  }
  return httpProblem('internal', 'the server failed to handle this request; see its logs', instance);
}

/** Every problem type, for the API document and the docs. */
export function problemTypes(): Array<{ type: string; status: number; title: string; code: string }> {
  return [
    ...Object.entries(MAPPING).map(([code, m]) => ({ type: BASE + m.slug, status: m.status, title: m.title, code })),
    ...Object.values(HTTP_PROBLEMS).map((p) => ({
      type: BASE + p.slug,
      status: p.status,
      title: p.title,
      code: p.code,
    })),
  ];
}
