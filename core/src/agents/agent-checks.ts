import { ErrorCodes, OpspawnError, type AgentDefinition } from '@opspawn/plugin-sdk';
import { createAjv } from '../config/ajv.js';
import { AGENT_TOOL_PREFIX, ToolScope, agentToolName } from './tool-scope.js';

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
 * enabled plugins of that kind (or there is a default), `defaultAgent` names an agent, a handoff pattern
 * (`agents__...`) matches an agent, and no agent reaches itself by handing off. Tool patterns are checked for shape
 * by the config schema; whether the others match a tool is only known once the tool providers run, so the kernel
 * checks that at boot.
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
  for (const [id, agent] of Object.entries(agents ?? {}))
    for (const [tool, rule] of Object.entries(agent.approval ?? {})) {
      if (typeof rule !== 'object' || !rule.when) continue;
      try {
        createAjv({ useDefaults: false }).compile(rule.when);
      } catch (error) {
        bad(
          `agents.${id}.approval.${tool}.when`,
          `agent '${id}' gives tool '${tool}' an approval rule whose 'when' is not a valid JSON Schema: ${(error as Error).message}`,
          'write when as a JSON Schema over the arguments, e.g. { properties: { path: { pattern: "^/prod/" } }, required: ["path"] }',
        );
      }
    }
  problems.push(...checkHandoffs(agents ?? {}));
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

/**
 * The handoffs the agents' tools allow, as a graph: a pattern starting with `agents__` that matches no agent is
 * reported with its path, and so is each cycle, as the path of agents that leads back (`a -> b -> a`), a glob that
 * matches the agent itself included.
 */
export function checkHandoffs(agents: Record<string, AgentDefinition>): OpspawnError[] {
  const problems: OpspawnError[] = [];
  const ids = Object.keys(agents).sort();
  const names = ids.map(agentToolName);
  /** For each agent, the agents it may call and the index of the first pattern that allows each. */
  const edges = new Map<string, Array<{ to: string; index: number }>>();
  for (const id of ids) {
    const patterns = agents[id]!.tools ?? [];
    const scope = new ToolScope(patterns);
    const out: Array<{ to: string; index: number }> = [];
    patterns.forEach((pattern, index) => {
      if (!pattern.startsWith(AGENT_TOOL_PREFIX)) return;
      const matched = scope.matching(index, names);
      if (matched.length === 0) {
        const path = `agents.${id}.tools[${index}]`;
        problems.push(
          new OpspawnError(
            ErrorCodes.AGENT_INVALID,
            `${path}: '${pattern}' matches no agent (agents: ${ids.join(', ')})`,
            {
              hint: `name one of: ${names.join(', ')}`,
              details: { path },
            },
          ),
        );
      }
      for (const name of matched) {
        const to = name.slice(AGENT_TOOL_PREFIX.length);
        if (!out.some((e) => e.to === to)) out.push({ to, index });
      }
    });
    edges.set(id, out);
  }
  const reported = new Set<string>();
  const state = new Map<string, 'visiting' | 'done'>();
  const path: Array<{ id: string; index: number }> = [];
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    for (const edge of edges.get(id) ?? []) {
      path.push({ id, index: edge.index });
      if (state.get(edge.to) === 'visiting') {
        const start = path.findIndex((p) => p.id === edge.to);
        const loop = path.slice(start);
        const key = [...loop.map((p) => p.id)].sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          const where = `agents.${loop[0]!.id}.tools[${loop[0]!.index}]`;
          const cycle = [...loop.map((p) => p.id), edge.to].join(' -> ');
          problems.push(
            new OpspawnError(ErrorCodes.AGENT_HANDOFF_CYCLE, `${where}: agents hand off in a cycle: ${cycle}`, {
              hint: `remove one handoff of ${cycle} from its agent's tools (agents__* also matches the agent itself)`,
              details: { path: where, cycle: [...loop.map((p) => p.id), edge.to] },
            }),
          );
        }
      } else if (!state.has(edge.to)) {
        visit(edge.to);
      }
      path.pop();
    }
    state.set(id, 'done');
  };
  for (const id of ids) if (!state.has(id)) visit(id);
  return problems;
}
