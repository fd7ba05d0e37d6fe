import { ErrorCodes, isOpspawnError, isOpspawnProblems, type ErrorCode } from '@opspawn/plugin-sdk';

/** Documented in docs/reference/cli.md; scripts may rely on them. */
export const ExitCodes = {
  ok: 0,
  /** Something unexpected; a bug worth reporting. */
  internal: 1,
  /** Bad command-line usage. */
  usage: 2,
  /** The config file is missing, does not load, or is invalid. */
  config: 3,
  /** A plugin failed a check: manifest, versions, graph, options, loading, registering. */
  plugins: 4,
  /** A plugin failed to start (or timed out) and its policy aborts the boot. */
  boot: 5,
  /** A plugin failed to stop cleanly. */
  stop: 6,
} as const;

export function exitCodeFor(error: unknown): number {
  const code = isOpspawnProblems(error) || isOpspawnError(error) ? error.code : undefined;
  if (!code) return ExitCodes.internal;
  return exitCodeForCode(code);
}

function exitCodeForCode(code: ErrorCode): number {
  if (code.startsWith('OPSPAWN_CONFIG_')) return ExitCodes.config;
  if (code === ErrorCodes.PLUGIN_START_FAILED || code === ErrorCodes.PLUGIN_START_TIMEOUT) return ExitCodes.boot;
  if (code === ErrorCodes.PLUGIN_STOP_FAILED) return ExitCodes.stop;
  if (code.startsWith('OPSPAWN_PLUGIN_') || code.startsWith('OPSPAWN_KIND_') || code === ErrorCodes.SERVICE_MISSING)
    return ExitCodes.plugins;
  if (code === ErrorCodes.SCAFFOLD_INVALID) return ExitCodes.usage;
  if (
    code === ErrorCodes.INVALID_REQUEST ||
    code === ErrorCodes.TASK_INVALID ||
    code === ErrorCodes.PLANNER_UNKNOWN ||
    code === ErrorCodes.MEMORY_UNKNOWN
  )
    return ExitCodes.usage;
  return ExitCodes.internal;
}
