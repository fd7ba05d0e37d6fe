import { ErrorCodes, OpspawnError, type AgentDefinition } from '@opspawn/plugin-sdk';

export interface AgentCheckContext {
  /** Ids of the enabled planner plugins. */
  planners: string[];
  /** Ids of the enabled memory plugins. */
  memories: string[];
  /** The deployment's default planner and memory, when there is one. */
  chosen: { planner?: string; memory?: string };
}

/**
 * What can be checked of the config's agents without running a plugin: each agent's planner and memory are
 * enabled plugins of that kind (or there is a default), and `defaultAgent` names an agent. Tool patterns are
 * checked for shape by the config schema; whether they match a tool is only known once the tool providers run,
 * so the kernel checks that at boot.
 */
export function checkAgents(
  agents: Record<string, AgentDefinition> | undefined,
  defaultAgent: string | undefined,
  ctx: AgentCheckContext,
): OpspawnError[] {
  const problems: OpspawnError[] = [];
  const bad = (path: string, message: string, hint: string) =>
    problems.push(new OpspawnError(ErrorCodes.AGENT_INVALID, `${path}: ${message}`, { hint, details: { path } }));
  for (const [id, agent] of Object.entries(agents ?? {})) {
    for (const kind of ['planner', 'memory'] as const) {
      const enabled = kind === 'planner' ? ctx.planners : ctx.memories;
      const named = agent[kind];
      const list = enabled.length ? enabled.join(', ') : '(none enabled)';
      if (named === undefined) {
        if (!ctx.chosen[kind])
          bad(
            `agents.${id}.${kind}`,
            `agent '${id}' names no ${kind} and the deployment has no default ${kind}`,
            enabled.length
              ? `opspawn config set agents.${id}.${kind} ${enabled[0]} (enabled ${kind}s: ${list})`
              : `opspawn plugins add <a ${kind} plugin>`,
          );
      } else if (!enabled.includes(named)) {
        bad(
          `agents.${id}.${kind}`,
          `agent '${id}' names ${kind} '${named}', which no enabled plugin provides (enabled ${kind}s: ${list})`,
          enabled.length
            ? `opspawn config set agents.${id}.${kind} ${enabled[0]} (enabled ${kind}s: ${list}), or add and enable the plugin that provides '${named}'`
            : `add and enable the plugin that provides '${named}' (opspawn plugins add, opspawn plugins enable)`,
        );
      }
    }
  }
  if (defaultAgent !== undefined && !Object.hasOwn(agents ?? {}, defaultAgent)) {
    const known = Object.keys(agents ?? {});
    bad(
      'defaultAgent',
      `defaultAgent '${defaultAgent}' is not one of the config's agents (${known.join(', ') || 'none declared'})`,
      known.length
        ? `opspawn config set defaultAgent ${known[0]} (agents: ${known.join(', ')})`
        : `declare the agent under agents, or opspawn config unset defaultAgent`,
    );
  }
  return problems;
}
