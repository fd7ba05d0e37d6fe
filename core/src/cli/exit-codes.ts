import {
  errorCategory,
  isOpspawnError,
  isOpspawnProblems,
  unhandledCategory,
  type ErrorCategory,
} from '@opspawn/plugin-sdk';

/** Documented in docs/reference/cli.md; scripts may rely on them. */
export const ExitCodes = {
  ok: 0,
  /** Something unexpected; a bug worth reporting. */
  internal: 1,
  /** Bad command-line usage, or a request the host refuses as invalid. */
  usage: 2,
  /** The config file is missing, does not load, or is invalid. */
  config: 3,
  /** A plugin failed a check: manifest, versions, graph, options, loading, registering. */
  plugins: 4,
  /** A plugin failed to start (or timed out) and its policy aborts the boot. */
  boot: 5,
  /** A plugin failed to stop cleanly. */
  stop: 6,
  /** No such task (or other thing named). */
  notFound: 7,
  /** The host, or a store or broker behind it, cannot be reached. */
  unreachable: 8,
  /** The API key is missing, unknown, or lacks the scope. */
  auth: 9,
  /** The task failed (or timed out). */
  taskFailed: 10,
  /** The task was cancelled. */
  taskCancelled: 11,
  /** `run`: the task waits for a person's approval, which this process cannot take. */
  taskWaiting: 12,
} as const;

/** The exit code of every error category: the one place the CLI decides exit codes for errors. */
export function exitCodeForCategory(category: ErrorCategory): number {
  switch (category) {
    case 'invalid':
    case 'conflict':
    case 'wrong_state':
    case 'method_not_allowed':
    case 'too_large':
    case 'unsupported_media_type':
      return ExitCodes.usage;
    case 'not_found':
      return ExitCodes.notFound;
    case 'unauthenticated':
    case 'forbidden':
      return ExitCodes.auth;
    case 'unavailable':
      return ExitCodes.unreachable;
    case 'timeout':
    case 'task_failed':
      return ExitCodes.taskFailed;
    case 'cancelled':
      return ExitCodes.taskCancelled;
    case 'config':
      return ExitCodes.config;
    case 'plugin':
      return ExitCodes.plugins;
    case 'boot':
      return ExitCodes.boot;
    case 'stop':
      return ExitCodes.stop;
    case 'internal':
      return ExitCodes.internal;
    default:
      return unhandledCategory(category);
  }
}

/** The exit code for anything thrown: its code's category decides; anything without a code is a bug (1). */
export function exitCodeFor(error: unknown): number {
  const code = isOpspawnProblems(error) || isOpspawnError(error) ? error.code : undefined;
  return code ? exitCodeForCategory(errorCategory(code)) : ExitCodes.internal;
}
