/** The namespace of agents called as tools (handoffs): agent `calculator` is the tool `agents__calculator`. */
export const AGENT_TOOL_PREFIX = 'agents__';

export function agentToolName(agentId: string): string {
  return `${AGENT_TOOL_PREFIX}${agentId}`;
}

/**
 * An agent's tool scope: namespaced tool names and globs where `*` matches any characters (`js__calculate`,
 * `mcp__github_*`, `*`). Tool names are letters, digits, `_` and `-`, so `*` is the only special character and a
 * pattern compiles to an anchored regular expression with everything else escaped.
 *
 * Handing off is opted into by name: only a pattern that starts with `agents__` reaches the `agents__<id>` tools,
 * so `*` means every provider's tool, not every agent (ADR 0011).
 */
export class ToolScope {
  private readonly matchers: Array<{ test(tool: string): boolean }>;

  constructor(readonly patterns: readonly string[]) {
    this.matchers = patterns.map((pattern) => {
      const regexp = globToRegExp(pattern);
      const reachesAgents = pattern.startsWith(AGENT_TOOL_PREFIX);
      return { test: (tool: string) => (reachesAgents || !tool.startsWith(AGENT_TOOL_PREFIX)) && regexp.test(tool) };
    });
  }

  allows(tool: string): boolean {
    return this.matchers.some((m) => m.test(tool));
  }

  /** The indexes of the patterns no tool in `tools` matches. */
  unmatched(tools: readonly string[]): number[] {
    return this.matchers.flatMap((m, i) => (tools.some((t) => m.test(t)) ? [] : [i]));
  }

  /** The tools of `tools` that pattern `index` matches. */
  matching(index: number, tools: readonly string[]): string[] {
    return tools.filter((t) => this.matchers[index]!.test(t));
  }

  /** The ids of the agents among `agentIds` this scope may hand off to. */
  handoffs(agentIds: readonly string[]): string[] {
    return agentIds.filter((id) => this.allows(agentToolName(id)));
  }
}

export function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}
