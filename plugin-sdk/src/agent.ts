// An agent as the config declares it: what `agents` in opspawn.config.ts holds.
/** Defaults an agent gives its tasks; a submission may still set its own. Same bounds as the task's fields. */
export interface AgentLimits {
  maxSteps?: number;
  timeoutMs?: number;
  maxAttempts?: number;
}

/**
 * An agent: a planner with its options, a memory, a tool scope and limits under one name. Tasks run agents
 * (`agent` on submit, or the config's `defaultAgent`). See docs/how-to/define-agents.md.
 */
/** When a call of a tool needs approval: see `AgentDefinition.approval`. */
export type ApprovalPolicy = 'always' | 'never' | ApprovalRule;

export interface ApprovalRule {
  /** A JSON Schema over the call's arguments: approval is needed when they match it. Absent: always. */
  when?: Record<string, unknown>;
  /** How long the request waits for a decision before the task fails with OPSPAWN_APPROVAL_EXPIRED (default 24 h). */
  expiresInMs?: number;
}

export interface AgentDefinition {
  description?: string;
  /** Plugin id of the planner; default: the deployment's default planner. */
  planner?: string;
  /** This agent's options for its planner (e.g. `model`, `temperature` for planner-openai); handed to the planner. */
  options?: Record<string, unknown>;
  /** System instructions; `{{ input.x }}` and `{{ goal }}` are filled from the task. */
  instructions?: string;
  /** Plugin id of the memory; default: the deployment's default memory. */
  memory?: string;
  /**
   * The tools this agent may see and call: namespaced names and globs (`*` matches any characters), e.g.
   * `js__calculate`, `mcp__github_*`. Left out or empty, the agent has no tools; `['*']` gives it every tool.
   */
  tools?: string[];
  limits?: AgentLimits;
  /**
   * Which tool calls wait for a person's approval, by tool name or glob (`js__delete_*`): `'always'`, `'never'`, or
   * a rule `{ when?, expiresInMs? }` whose `when` is a JSON Schema the call's arguments must match for approval to be
   * needed (no `when`: always). An exact name wins over globs; among globs, the first listed that matches.
   * See docs/how-to/approve-tool-calls.md.
   */
  approval?: Record<string, ApprovalPolicy>;
  /** Free-form labels describing the agent (shown by `agents list` and `GET /v1/agents`). */
  labels?: Record<string, string>;
}
