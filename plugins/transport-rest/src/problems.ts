import {
  ErrorCodes,
  errorDefinition,
  errorDefinitions,
  isOpspawnError,
  isServerSideCategory,
  unhandledCategory,
  type ErrorCategory,
  type ErrorCode,
} from '@opspawn/plugin-sdk';

/**
 * An RFC 9457 problem. `type` is the URL of the code's section in the errors reference (stable: clients may
 * switch on it or on `code`); `hint` says how to fix it.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  hint: string;
  errors?: Array<{ path: string; message: string }>;
}

/** How many seconds a client should wait before retrying an `unavailable` problem (the `Retry-After` header). */
export const RETRY_AFTER_SECONDS = 5;

/** The HTTP status of every error category: the one place REST decides statuses. */
export function httpStatusFor(category: ErrorCategory): number {
  switch (category) {
    case 'invalid':
      return 400;
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'conflict':
    case 'wrong_state':
    case 'cancelled':
      return 409;
    case 'too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'unavailable':
      return 503;
    case 'timeout':
      return 504;
    case 'task_failed':
    case 'config':
    case 'plugin':
    case 'boot':
    case 'stop':
    case 'internal':
      return 500;
    default:
      return unhandledCategory(category);
  }
}

/** The problem for an error code; `detail` is this occurrence's message. */
export function problemFor(
  code: ErrorCode,
  detail: string,
  options: { instance?: string; hint?: string; errors?: Array<{ path: string; message: string }> } = {},
): Problem {
  const definition = errorDefinition(code) ?? errorDefinition(ErrorCodes.INTERNAL)!;
  return {
    type: definition.docUrl,
    title: definition.description,
    status: httpStatusFor(definition.category),
    detail,
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    code: definition.code,
    hint: options.hint ?? definition.hint,
    ...(options.errors ? { errors: options.errors } : {}),
  };
}

/** The problem for anything a handler threw; anything not an OpspawnError is a generic 500 (details stay in the logs). */
export function toProblem(error: unknown, instance: string): Problem {
  const definition = isOpspawnError(error) ? errorDefinition(error.code) : undefined;
  if (!isOpspawnError(error) || !definition)
    return problemFor(ErrorCodes.INTERNAL, 'the server failed to handle this request; see its logs', { instance });
  if (isServerSideCategory(definition.category))
    return problemFor(definition.code, 'the server failed to handle this request; see its logs', { instance });
  const errors = Array.isArray(error.details) ? (error.details as Array<{ path: string; message: string }>) : undefined;
  return problemFor(definition.code, error.message, { instance, hint: error.hint, errors });
}

/** Every problem type a caller can meet, for the API document and the docs. */
export function problemTypes(): Array<{ type: string; status: number; title: string; code: string }> {
  return errorDefinitions().map((d) => ({
    type: d.docUrl,
    status: httpStatusFor(d.category),
    title: d.description,
    code: d.code,
  }));
}
