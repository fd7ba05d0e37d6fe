/**
 * What kind of failure an error is. Each transport maps a category (never a code) to its status in one switch:
 * HTTP in transport-rest, gRPC in transport-grpc, the exit code in the CLI. A new code picks a category and gets
 * every status with it; a new category fails to compile until every switch handles it.
 */
export const ERROR_CATEGORIES = [
  /** The request or input is malformed or breaks a rule; sending it again unchanged fails again. */
  'invalid',
  /** The thing named (a task, a plugin, a route, a tool) does not exist. */
  'not_found',
  /** The request repeats a key or name already taken by a different request. */
  'conflict',
  /** The target exists but is in a state that refuses the request (e.g. cancelling a finished task). */
  'wrong_state',
  /** No credentials, or unknown ones. */
  'unauthenticated',
  /** Known credentials that lack the permission. */
  'forbidden',
  /** The route exists but not with this method. */
  'method_not_allowed',
  /** The request body or a result exceeds a configured limit. */
  'too_large',
  /** The request body is not in a format the server reads. */
  'unsupported_media_type',
  /** A store, broker or host cannot be reached right now; the same request may succeed later. */
  'unavailable',
  /** A deadline passed (a task's timeout, a tool's deadline). */
  'timeout',
  /** The task was cancelled on request. */
  'cancelled',
  /** A task ran and failed: its planner, a tool or its step budget gave out. */
  'task_failed',
  /** The deployment's config file is missing, does not load or is invalid. */
  'config',
  /** A plugin fails a check before it runs, or fails to load or register. */
  'plugin',
  /** A plugin failed to start, or did not start in time. */
  'boot',
  /** A plugin failed to stop cleanly. */
  'stop',
  /** Something unexpected: a bug, or a state the server cannot explain. */
  'internal',
] as const;

export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/** A compile-time guard for a switch over categories: a category no case handles does not compile. */
export function unhandledCategory(category: never): never {
  throw new Error(`unhandled error category: ${String(category)}`);
}

/**
 * Whether errors of this category describe the server's own deployment (its config, its plugins, a bug) rather than
 * the caller's request: transports send such errors' code and fix to callers, and keep the message for the logs.
 */
export function isServerSideCategory(category: ErrorCategory): boolean {
  return (
    category === 'config' ||
    category === 'plugin' ||
    category === 'boot' ||
    category === 'stop' ||
    category === 'internal'
  );
}
