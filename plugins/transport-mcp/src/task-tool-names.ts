import type { Scope } from '@opspawn/plugin-sdk';

export const TASK_TOOL_NAMES = ['submit_task', 'run_task', 'get_task', 'list_tasks', 'cancel_task'] as const;
export type TaskToolName = (typeof TASK_TOOL_NAMES)[number];

/** The tool of one agent: `agent_<id>`. `agent_*` in `ToolExposure` stands for every agent tool not named. */
export type AgentToolName = `agent_${string}`;

/**
 * Per tool: the scope a key needs to see and call it, or `false` to hide it. Keys are tool names; `agent_*` sets
 * every agent tool that has no key of its own.
 */
export type ToolExposure = Partial<Record<TaskToolName | AgentToolName, Scope | false>>;

/** The scopes of transport-rest's matching routes: reading needs `read`, changing a task needs `submit`. */
export const DEFAULT_TOOL_SCOPES: Record<TaskToolName, Scope> = {
  submit_task: 'submit',
  run_task: 'submit',
  get_task: 'read',
  list_tasks: 'read',
  cancel_task: 'submit',
};

/** An agent tool submits a task, so it needs what `run_task` needs. */
export const DEFAULT_AGENT_TOOL_SCOPE: Scope = 'submit';

/**
 * The tool name of an agent: `agent_` and its id. MCP tool names allow `[A-Za-z0-9_-]`; config ids already keep
 * to lowercase letters, digits, `-` and `_`, and any other character (an id from a newer host) becomes `_`.
 */
export function agentToolName(agentId: string): AgentToolName {
  return `agent_${agentId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The scope a tool needs, or `false` when the exposure hides it. */
export function toolScope(exposure: ToolExposure, name: string): Scope | false {
  const own = exposure[name as TaskToolName];
  if (own !== undefined) return own;
  if ((TASK_TOOL_NAMES as readonly string[]).includes(name)) return DEFAULT_TOOL_SCOPES[name as TaskToolName];
  return exposure['agent_*'] ?? DEFAULT_AGENT_TOOL_SCOPE;
}
