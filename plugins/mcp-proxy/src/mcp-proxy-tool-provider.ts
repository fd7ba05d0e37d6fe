import { resolve } from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ErrorCodes,
  type HealthCheckResult,
  type Logger,
  type ToolCallContext,
  type ToolCallResult,
  type ToolProvider,
  type ToolSpec,
} from '@opspawn/plugin-sdk';
import type { McpProxyOptions } from './options.js';
import { ServerConnection } from './server-connection.js';

const fail = (code: string, message: string): ToolCallResult => ({ isError: true, output: { code, message } });

/**
 * Spans of MCP calls (`opspawn.mcp`), children of the kernel's `opspawn.tool` span; non-recording without tracing.
 * Asked for at each call, so a provider registered later (or again) is the one used.
 */
const tracer = () => trace.getTracer('@opspawn/mcp-proxy');

/** `<server>_<tool>` limited to what LLM APIs accept: [A-Za-z0-9_-], at most 64 characters with the namespace. */
export function exposedName(namespace: string, server: string, tool: string): string {
  const clean = `${server}_${tool}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return clean.slice(0, Math.max(1, 64 - namespace.length - 2));
}

/**
 * MCP servers as tools: `call` reaches any tool of any server, `list` shows servers and their tools, `read_resource`
 * reads a resource; servers with `exposeTools` also offer each tool under its own name with its schema.
 */
export class McpProxyToolProvider implements ToolProvider {
  readonly namespace: string;
  private readonly servers = new Map<string, ServerConnection>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly options: McpProxyOptions,
    readonly logger: Logger,
    /** Where a stdio server's relative `cwd` starts, and its `cwd` when it has none: the plugin passes the config file's folder. */
    baseDir = process.cwd(),
  ) {
    this.namespace = options.namespace;
    for (const [name, config] of Object.entries(options.servers)) {
      if (config.enabled === false) continue;
      const placed = config.transport === 'stdio' ? { ...config, cwd: resolve(baseDir, config.cwd ?? '.') } : config;
      this.servers.set(name, new ServerConnection(name, placed, options, logger, () => this.changed()));
    }
  }

  /** Connects every server at once; one that fails is reported and retried, never fatal. */
  async start(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.close()));
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  health(): HealthCheckResult {
    const all = [...this.servers.values()];
    const down = all.filter((s) => s.state !== 'ready');
    if (all.length === 0) return { state: 'ok', detail: 'no MCP servers configured' };
    const detail = all.map((s) => `${s.name}: ${s.state}${s.lastError ? ` (${s.lastError})` : ''}`).join('; ');
    return { state: down.length === 0 ? 'ok' : down.length === all.length ? 'down' : 'degraded', detail };
  }

  async list(): Promise<ToolSpec[]> {
    const server = this.serverNameSchema();
    const specs: ToolSpec[] = [
      {
        name: 'call',
        description: 'Calls a tool of a connected MCP server. Use `list` to see servers and their tools.',
        inputSchema: {
          type: 'object',
          additionalProperties: false,
          required: ['server', 'tool'],
          properties: {
            server,
            tool: { type: 'string' },
            arguments: { type: 'object' },
          },
        },
      },
      {
        name: 'list',
        description: 'Lists the MCP servers, their state and their tools with input schemas.',
        inputSchema: { type: 'object', additionalProperties: false, properties: {} },
      },
      {
        name: 'read_resource',
        description: 'Reads a resource of an MCP server by URI.',
        inputSchema: {
          type: 'object',
          additionalProperties: false,
          required: ['server', 'uri'],
          properties: { server, uri: { type: 'string' } },
        },
      },
    ];
    for (const connection of this.servers.values()) {
      if (!connection.config.exposeTools || connection.state !== 'ready') continue;
      for (const tool of connection.tools) {
        specs.push({
          name: exposedName(this.namespace, connection.name, tool.name),
          description: `[${connection.name}] ${tool.description ?? tool.name}`,
          inputSchema: tool.inputSchema as Record<string, unknown>,
          outputSchema: tool.outputSchema as Record<string, unknown> | undefined,
        });
      }
    }
    return specs;
  }

  /**
   * The `server` argument: one of the configured names, so a wrong name is refused before the call with the list of
   * known ones. JSON Schema forbids an empty `enum`, so with no servers any string passes and the call says so.
   */
  private serverNameSchema(): Record<string, unknown> {
    const names = [...this.servers.keys()];
    return names.length > 0
      ? { type: 'string', enum: names }
      : { type: 'string', description: 'no servers are configured' };
  }

  async call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolCallResult> {
    const a = (args ?? {}) as Record<string, any>;
    if (name === 'list') return { output: this.describeServers() };
    if (name === 'call') return this.callTool(String(a.server), String(a.tool), a.arguments ?? {}, ctx);
    if (name === 'read_resource') return this.readResource(String(a.server), String(a.uri), ctx);
    for (const server of this.servers.values()) {
      if (!server.config.exposeTools) continue;
      const tool = server.tools.find((t) => exposedName(this.namespace, server.name, t.name) === name);
      if (tool) return this.callTool(server.name, tool.name, a, ctx);
    }
    return fail(ErrorCodes.TOOL_NOT_FOUND, `no MCP tool '${name}'`);
  }

  private describeServers(): unknown {
    return [...this.servers.values()].map((s) => ({
      server: s.name,
      state: s.state,
      ...(s.lastError ? { error: s.lastError } : {}),
      tools: s.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema })),
    }));
  }

  /**
   * The server, once it can take a call. A server that was connected and is coming back (after a crash) is waited
   * for until `deadline`; one that never connected fails at once with its reason, as waiting would not help.
   */
  private async ready(
    serverName: string,
    deadline: number,
    ctx: ToolCallContext,
  ): Promise<ServerConnection | ToolCallResult> {
    const server = this.servers.get(serverName);
    if (!server)
      return fail(
        ErrorCodes.TOOL_NOT_FOUND,
        `no MCP server '${serverName}' (servers: ${[...this.servers.keys()].join(', ') || 'none'})`,
      );
    const down = () => `${server.state}${server.lastError ? `: ${server.lastError}` : ''}`;
    if (server.state === 'ready' && server.client) return server;
    if (!server.hasConnected || server.state === 'closed')
      return fail(ErrorCodes.TOOL_FAILED, `MCP server '${serverName}' is ${down()}`);
    const waitedMs = Math.max(0, deadline - Date.now());
    const outcome = await server.waitUntilReady(deadline, ctx.signal);
    if (outcome === 'ready') return server;
    if (outcome === 'cancelled')
      return fail(
        ErrorCodes.TASK_CANCELLED,
        `the call to MCP server '${serverName}' was cancelled while the server reconnected`,
      );
    if (outcome === 'closed') return fail(ErrorCodes.TOOL_FAILED, `MCP server '${serverName}' is closed`);
    return fail(
      ErrorCodes.TOOL_TIMEOUT,
      `MCP server '${serverName}' did not come back within ${waitedMs} ms (it is ${down()})`,
    );
  }

  /** When a call must be over: the sooner of the server's call timeout and the task's deadline. */
  private deadline(server: ServerConnection | undefined, ctx: ToolCallContext, now = Date.now()): number {
    const timeout = server?.config.callTimeoutMs ?? this.options.callTimeoutMs;
    return Math.min(now + timeout, ctx.deadline);
  }

  /** One call of a server's tool, in an `opspawn.mcp` span naming the server and the tool. */
  private callTool(serverName: string, tool: string, args: unknown, ctx: ToolCallContext): Promise<ToolCallResult> {
    return tracer().startActiveSpan('opspawn.mcp', { kind: SpanKind.CLIENT }, async (span) => {
      try {
        const result = await this.callServerTool(serverName, tool, args, ctx);
        if (span.isRecording()) {
          span.setAttributes({ 'opspawn.mcp.server': serverName, 'gen_ai.tool.name': tool });
          const failed = result.isError ? (result.output as { code?: unknown; message?: unknown }) : undefined;
          if (failed) {
            span.setAttribute('error.type', String(failed.code));
            span.setStatus({ code: SpanStatusCode.ERROR, message: String(failed.message) });
          }
        }
        return result;
      } finally {
        span.end();
      }
    });
  }

  private async callServerTool(
    serverName: string,
    tool: string,
    args: unknown,
    ctx: ToolCallContext,
  ): Promise<ToolCallResult> {
    const known = this.servers.get(serverName);
    const now = Date.now();
    const deadline = this.deadline(known, ctx, now);
    // A connected server is the common case: no detour through ready() and the promise it makes.
    const server = known?.state === 'ready' && known.client ? known : await this.ready(serverName, deadline, ctx);
    if (!(server instanceof ServerConnection)) return server;
    const timeout = Math.max(1, deadline - (server === known ? now : Date.now()));
    try {
      const result = await server.client!.callTool(
        { name: tool, arguments: args as Record<string, unknown> },
        undefined,
        { signal: ctx.signal, timeout },
      );
      const output =
        result.structuredContent ?? contentOutput(result.content as Array<Record<string, unknown>> | undefined);
      if (result.isError)
        return fail(ErrorCodes.TOOL_FAILED, typeof output === 'string' ? output : JSON.stringify(output));
      return { output };
    } catch (error) {
      const message = (error as Error).message;
      if (ctx.signal.aborted) return fail(ErrorCodes.TASK_CANCELLED, `MCP call ${serverName}/${tool} was cancelled`);
      if (/timed out|timeout/i.test(message))
        return fail(ErrorCodes.TOOL_TIMEOUT, `MCP server '${serverName}' did not answer ${tool} within ${timeout} ms`);
      return fail(ErrorCodes.TOOL_FAILED, `MCP call ${serverName}/${tool} failed: ${message}`);
    }
  }

  private async readResource(serverName: string, uri: string, ctx: ToolCallContext): Promise<ToolCallResult> {
    const deadline = this.deadline(this.servers.get(serverName), ctx);
    const server = await this.ready(serverName, deadline, ctx);
    if (!(server instanceof ServerConnection)) return server;
    try {
      const result = await server.client!.readResource(
        { uri },
        { signal: ctx.signal, timeout: Math.max(1, deadline - Date.now()) },
      );
      return { output: result.contents };
    } catch (error) {
      return fail(ErrorCodes.TOOL_FAILED, `reading ${uri} from '${serverName}' failed: ${(error as Error).message}`);
    }
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** Text-only content becomes its text; anything else stays as MCP content blocks. */
function contentOutput(content: Array<Record<string, unknown>> | undefined): unknown {
  if (!content || content.length === 0) return null;
  if (content.every((c) => c.type === 'text')) return content.map((c) => c.text as string).join('\n');
  return content;
}
