/** A tool as planners see it. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
}

export interface ToolCallContext {
  /** Aborted on task cancellation, task timeout or the call's own deadline. */
  signal: AbortSignal;
  /** Epoch milliseconds after which the call is abandoned. */
  deadline: number;
  taskId?: string;
  /** The planner step the call belongs to (1, 2, ...), when a task's agent loop makes it. */
  step?: number;
  /** The planner's id of the call, when a task's agent loop makes it. */
  callId?: string;
  /**
   * The same for every run of this call, when a task's agent loop makes it: `<taskId>:<step>:<callId>`. A tool with
   * side effects passes it on (as an Idempotency-Key, a unique row) so a call run again does its effect once.
   */
  idempotencyKey?: string;
  /**
   * True when this very call ran before: an earlier attempt started it and no result of it was stored (its worker
   * died or the attempt was aborted mid-call), or its result was a failure a retry runs again. The effect may already
   * have happened.
   */
  repeat?: boolean;
  /** Writes a `log` event to the task (console output of sandboxed tools, progress of MCP servers...). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void;
}

export interface ToolCallResult {
  output: unknown;
  /** The tool ran but reports failure: the planner sees a failed observation. */
  isError?: boolean;
}

/**
 * A source of tools. The tool registry namespaces each tool as `namespace__name`.
 *
 * Promise: `list` may change over time (announce it through `onChange`); `call` honours `ctx.signal` and
 * `ctx.deadline`; a tool failure is thrown or returned as `isError`, never crashes the host.
 */
export interface ToolProvider {
  /** Letters, digits, `_` and `-`; the prefix of this provider's tools. */
  readonly namespace: string;
  list(): Promise<ToolSpec[]>;
  call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolCallResult>;
  onChange?(listener: () => void): () => void;
}
