import { createHash } from 'node:crypto';

/** The tool names the Messages API accepts. */
export const ANTHROPIC_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The name a tool goes by on the wire. Namespaced names (`js__calculate`) already fit and are sent as they are;
 * a longer name or one with other characters (an MCP server's `fs.read/file`) becomes its allowed characters, cut
 * to 55, then `_` and 8 hex digits of the full name's SHA-256, so two long names that share a beginning stay
 * distinct and the same name maps the same way in every request of a task.
 */
export function wireToolName(name: string): string {
  if (ANTHROPIC_TOOL_NAME.test(name)) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 55)}_${digest}`;
}

/** Registry names to wire names and back, for one request's tools. */
export class ToolNames {
  private readonly byWire = new Map<string, string>();

  constructor(names: Iterable<string>) {
    for (const name of names) this.byWire.set(wireToolName(name), name);
  }

  toWire(name: string): string {
    return wireToolName(name);
  }

  /** The registry name of a tool the model called; a name the model made up is passed on as it is. */
  fromWire(wire: string): string {
    return this.byWire.get(wire) ?? wire;
  }

  has(wire: string): boolean {
    return this.byWire.has(wire);
  }
}
