import { ErrorCodes, errorDefinition, isRetryable, type ErrorCode } from './error-registry.js';

export interface OpspawnErrorOptions {
  /** What the user should do about it, in a few words; the code's default fix when left out. */
  hint?: string;
  /** The plugin at fault, when there is one. */
  plugin?: string;
  /** The lifecycle phase in which it happened (load, register, start, stop). */
  phase?: string;
  /** Structured details, e.g. field-level validation problems. */
  details?: unknown;
  /**
   * Whether another attempt of the task can succeed; the code's registry entry when left out. A planner that fails
   * because a tool call failed passes on the tool error's verdict: an unknown tool stays unknown on retry.
   */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * Every error a user can cause has a stable code (declared in the registry), names its culprit (a plugin, a
 * field, a task) and says what to do. `toString()` renders the one line the CLI prints: `CODE: message (fix: hint)`.
 */
export class OpspawnError extends Error {
  readonly code: ErrorCode;
  /** Never empty: an error raised without a hint carries its code's default fix from the registry. */
  readonly hint: string;
  readonly plugin?: string;
  readonly phase?: string;
  readonly details?: unknown;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: OpspawnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OpspawnError';
    this.code = code;
    this.hint = options.hint ?? errorDefinition(code)?.hint ?? 'this is a bug; report it with the host logs';
    this.plugin = options.plugin;
    this.phase = options.phase;
    this.details = options.details;
    this.retryable = options.retryable ?? isRetryable(code);
  }

  /** The single line shown to users. */
  override toString(): string {
    return `${this.code}: ${this.message} (fix: ${this.hint})`;
  }

  toJSON(): { code: ErrorCode; message: string; hint: string; plugin?: string; phase?: string; details?: unknown } {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      plugin: this.plugin,
      phase: this.phase,
      details: this.details,
    };
  }
}

/** Several problems found together (a config check reports all of them at once). */
export class OpspawnProblems extends Error {
  readonly problems: readonly OpspawnError[];

  constructor(problems: readonly OpspawnError[]) {
    super(problems.map((p) => p.toString()).join('\n'));
    this.name = 'OpspawnProblems';
    this.problems = problems;
  }

  /** One line per problem. */
  override toString(): string {
    return this.message;
  }

  /** The code of the first problem: what a CLI's exit status is chosen from. */
  get code(): ErrorCode {
    return this.problems[0]?.code ?? ErrorCodes.CONFIG_INVALID;
  }
}

// Checked by name as well as by class: a plugin may bundle its own copy of this package.
export function isOpspawnError(value: unknown): value is OpspawnError {
  return (
    value instanceof OpspawnError ||
    (value instanceof Error && value.name === 'OpspawnError' && typeof (value as OpspawnError).code === 'string')
  );
}

export function isOpspawnProblems(value: unknown): value is OpspawnProblems {
  return (
    value instanceof OpspawnProblems ||
    (value instanceof Error && value.name === 'OpspawnProblems' && Array.isArray((value as OpspawnProblems).problems))
  );
}

/** The message of anything thrown, including non-Errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
