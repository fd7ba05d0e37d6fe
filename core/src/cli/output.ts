import {
  ErrorCodes,
  OpspawnProblems,
  errorDefinition,
  describeError,
  isOpspawnError,
  isOpspawnProblems,
  type OpspawnError,
} from '@opspawn/plugin-sdk';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import { checkPlugins, type StaticCheckOptions, type StaticPlan } from '../kernel/static-checks.js';
import { exitCodeFor } from './exit-codes.js';

const INTERNAL_HINT = errorDefinition(ErrorCodes.INTERNAL)!.hint;

/** The problems inside anything thrown, as OpspawnErrors. */
export function problemsOf(error: unknown): OpspawnError[] {
  if (isOpspawnProblems(error)) return [...error.problems];
  if (isOpspawnError(error)) return [error];
  return [];
}

/**
 * Reports a failure the way every command does: one line per problem on stderr (`error CODE: message (fix: ...)`),
 * or one JSON object on stdout with --json. Returns the exit code.
 */
export function reportFailure(error: unknown, json: boolean): number {
  const problems = problemsOf(error);
  const exitCode = exitCodeFor(error);
  if (json) {
    const list =
      problems.length > 0
        ? problems.map((p) => p.toJSON())
        : [{ code: ErrorCodes.INTERNAL, message: describeError(error), hint: INTERNAL_HINT }];
    process.stdout.write(`${JSON.stringify({ ok: false, exitCode, problems: list })}\n`);
  } else if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`error ${p.toString()}\n`);
  } else {
    process.stderr.write(
      `error ${ErrorCodes.INTERNAL}: ${describeError(error)} (fix: ${INTERNAL_HINT}; the stack is below)\n`,
    );
    if (error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  }
  return exitCode;
}

/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Loads the config and runs every static check: what `config check` and `plugins verify` share (`config check`
 * also asks for the kinds a host needs). On problems it reports them and sets the exit code, and returns undefined.
 */
export async function checkedConfig(
  configPath: string | undefined,
  json: boolean,
  checks: StaticCheckOptions = {},
): Promise<{ loaded: LoadedConfig; plan: StaticPlan } | undefined> {
  const loaded = await loadConfig({ path: configPath });
  const plan = checkPlugins(loaded, checks);
  if (plan.problems.length === 0) return { loaded, plan };
  process.exitCode = reportFailure(new OpspawnProblems(plan.problems), json);
  return undefined;
}
