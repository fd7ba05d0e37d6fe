/**
 * An agent's tool scope: namespaced tool names and globs where `*` matches any characters (`js__calculate`,
 * `mcp__github_*`, `*`). Tool names are letters, digits, `_` and `-`, so `*` is the only special character and a
 * pattern compiles to an anchored regular expression with everything else escaped.
 */
export class ToolScope {
  private readonly matchers: RegExp[];

  constructor(readonly patterns: readonly string[]) {
    this.matchers = patterns.map(globToRegExp);
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
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}
