/**
 * Every error a user can cause has a stable code, names its culprit (a plugin, a field, a task) and says
 * what to do. `toString()` renders the one line the CLI prints: `CODE: message (fix: hint)`.
 */
export const ErrorCodes = {
  // configuration
  CONFIG_NOT_FOUND: 'OPSPAWN_CONFIG_NOT_FOUND',
  CONFIG_LOAD_FAILED: 'OPSPAWN_CONFIG_LOAD_FAILED',
  CONFIG_INVALID: 'OPSPAWN_CONFIG_INVALID',
  CONFIG_ENV_MISSING: 'OPSPAWN_CONFIG_ENV_MISSING',
  /** The CLI cannot change the config for the user: not a literal `plugins` array, or a JSON file. */
  CONFIG_NOT_EDITABLE: 'OPSPAWN_CONFIG_NOT_EDITABLE',
  // plugin manifests and the graph, checked before any plugin code runs
  PLUGIN_NOT_FOUND: 'OPSPAWN_PLUGIN_NOT_FOUND',
  PLUGIN_MANIFEST_INVALID: 'OPSPAWN_PLUGIN_MANIFEST_INVALID',
  PLUGIN_KERNEL_MISMATCH: 'OPSPAWN_PLUGIN_KERNEL_MISMATCH',
  PLUGIN_DEPENDENCY_MISSING: 'OPSPAWN_PLUGIN_DEPENDENCY_MISSING',
  PLUGIN_DEPENDENCY_VERSION: 'OPSPAWN_PLUGIN_DEPENDENCY_VERSION',
  PLUGIN_DUPLICATE: 'OPSPAWN_PLUGIN_DUPLICATE',
  PLUGIN_UNKNOWN_KIND: 'OPSPAWN_PLUGIN_UNKNOWN_KIND',
  PLUGIN_CYCLE: 'OPSPAWN_PLUGIN_CYCLE',
  PLUGIN_OPTIONS_INVALID: 'OPSPAWN_PLUGIN_OPTIONS_INVALID',
  KIND_AMBIGUOUS: 'OPSPAWN_KIND_AMBIGUOUS',
  KIND_CHOICE_INVALID: 'OPSPAWN_KIND_CHOICE_INVALID',
  KIND_MISSING: 'OPSPAWN_KIND_MISSING',
  // plugin code: loading, register, start, stop
  PLUGIN_LOAD_FAILED: 'OPSPAWN_PLUGIN_LOAD_FAILED',
  PLUGIN_REGISTER_FAILED: 'OPSPAWN_PLUGIN_REGISTER_FAILED',
  PLUGIN_UNDECLARED_KIND: 'OPSPAWN_PLUGIN_UNDECLARED_KIND',
  SERVICE_MISSING: 'OPSPAWN_SERVICE_MISSING',
  PLUGIN_START_FAILED: 'OPSPAWN_PLUGIN_START_FAILED',
  PLUGIN_START_TIMEOUT: 'OPSPAWN_PLUGIN_START_TIMEOUT',
  PLUGIN_STOP_FAILED: 'OPSPAWN_PLUGIN_STOP_FAILED',
  // plugin management from the CLI
  PLUGIN_INSTALL_FAILED: 'OPSPAWN_PLUGIN_INSTALL_FAILED',
  SCAFFOLD_INVALID: 'OPSPAWN_SCAFFOLD_INVALID',
  // tasks
  TASK_NOT_FOUND: 'OPSPAWN_TASK_NOT_FOUND',
  TASK_INVALID: 'OPSPAWN_TASK_INVALID',
  TASK_NOT_CANCELLABLE: 'OPSPAWN_TASK_NOT_CANCELLABLE',
  IDEMPOTENCY_CONFLICT: 'OPSPAWN_IDEMPOTENCY_CONFLICT',
  PLANNER_UNKNOWN: 'OPSPAWN_PLANNER_UNKNOWN',
  MEMORY_UNKNOWN: 'OPSPAWN_MEMORY_UNKNOWN',
  PLANNER_FAILED: 'OPSPAWN_PLANNER_FAILED',
  PLANNER_INVALID_DECISION: 'OPSPAWN_PLANNER_INVALID_DECISION',
  TASK_TIMEOUT: 'OPSPAWN_TASK_TIMEOUT',
  TASK_CANCELLED: 'OPSPAWN_TASK_CANCELLED',
  TASK_MAX_STEPS: 'OPSPAWN_TASK_MAX_STEPS',
  TASK_STALLED: 'OPSPAWN_TASK_STALLED',
  TASK_INTERNAL: 'OPSPAWN_TASK_INTERNAL',
  BROKER_UNAVAILABLE: 'OPSPAWN_BROKER_UNAVAILABLE',
  // tools
  TOOL_NOT_FOUND: 'OPSPAWN_TOOL_NOT_FOUND',
  TOOL_INVALID_ARGUMENTS: 'OPSPAWN_TOOL_INVALID_ARGUMENTS',
  TOOL_FAILED: 'OPSPAWN_TOOL_FAILED',
  TOOL_TIMEOUT: 'OPSPAWN_TOOL_TIMEOUT',
  TOOL_RESULT_TOO_LARGE: 'OPSPAWN_TOOL_RESULT_TOO_LARGE',
  // callers
  UNAUTHENTICATED: 'OPSPAWN_UNAUTHENTICATED',
  FORBIDDEN: 'OPSPAWN_FORBIDDEN',
  INVALID_REQUEST: 'OPSPAWN_INVALID_REQUEST',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface OpspawnErrorOptions {
  /** What the user should do about it, in a few words. */
  hint?: string;
  /** The plugin at fault, when there is one. */
  plugin?: string;
  /** The lifecycle phase in which it happened (load, register, start, stop). */
  phase?: string;
  /** Structured details, e.g. field-level validation problems. */
  details?: unknown;
  cause?: unknown;
}

export class OpspawnError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly plugin?: string;
  readonly phase?: string;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: OpspawnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OpspawnError';
    this.code = code;
    this.hint = options.hint;
    this.plugin = options.plugin;
    this.phase = options.phase;
    this.details = options.details;
  }

  /** The single line shown to users. */
  override toString(): string {
    return `${this.code}: ${this.message}${this.hint ? ` (fix: ${this.hint})` : ''}`;
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string; plugin?: string; phase?: string; details?: unknown } {
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
