import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '@opspawn/plugin-sdk';
import type { McpProxyOptions, ServerConfig } from './options.js';
import { ProcessGroupStdioTransport } from './process-group-stdio-transport.js';
import { serverEnvironment } from './server-environment.js';
import { ServerStderrLog } from './server-stderr-log.js';

export type ServerState = 'connecting' | 'ready' | 'down' | 'closed';

/**
 * One MCP server: connects, lists its tools, follows `tools/list_changed`, and reconnects with exponential
 * backoff after a failed start or a crash. Its failures never reach the other servers. A stdio server's stderr goes
 * to the host's log, and its last lines into the error of a failed start or a crash.
 */
export class ServerConnection {
  state: ServerState = 'connecting';
  tools: Tool[] = [];
  lastError?: string;
  client?: Client;
  /** It was ready once: while down it is coming back, not misconfigured, so calls wait for it. */
  hasConnected = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private readonly stderr: ServerStderrLog;
  private readonly stateWatchers = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly config: ServerConfig,
    private readonly options: McpProxyOptions,
    private readonly logger: Logger,
    private readonly onToolsChanged: () => void,
  ) {
    this.stderr = new ServerStderrLog(name, logger);
  }

  /** Resolves once the first attempt has connected or failed; a failure schedules a retry. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.timer);
    this.notifyStateWatchers();
    await this.client?.close().catch(() => undefined);
  }

  /** Waits until the server is ready, or says what came first: its closing, `signal`, or `deadline`. */
  async waitUntilReady(deadline: number, signal: AbortSignal): Promise<'ready' | 'closed' | 'cancelled' | 'timed-out'> {
    while (this.state !== 'ready' || !this.client) {
      if (this.state === 'closed') return 'closed';
      if (signal.aborted) return 'cancelled';
      if (Date.now() >= deadline) return 'timed-out';
      let timer: NodeJS.Timeout | undefined;
      let wake: () => void = () => undefined;
      await new Promise<void>((resolve) => {
        wake = () => resolve();
        this.stateWatchers.add(wake);
        signal.addEventListener('abort', wake, { once: true });
        timer = setTimeout(wake, deadline - Date.now());
      });
      clearTimeout(timer);
      this.stateWatchers.delete(wake);
      signal.removeEventListener('abort', wake);
    }
    return 'ready';
  }

  private notifyStateWatchers(): void {
    for (const wake of this.stateWatchers) wake();
  }

  private async connect(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const client = new Client({ name: 'opspawn-mcp-proxy', version: '1.0.0' });
    this.stderr.forgetLastLines();
    const transport =
      this.config.transport === 'stdio'
        ? new ProcessGroupStdioTransport({
            command: this.config.command,
            args: this.config.args ?? [],
            env: serverEnvironment(this.config),
            cwd: this.config.cwd,
            stopTimeoutMs: this.options.stopTimeoutMs,
            stderr: this.stderr,
          })
        : new StreamableHTTPClientTransport(new URL(this.config.url), {
            requestInit: { headers: this.config.headers },
          });
    try {
      await withTimeout(
        client.connect(transport),
        this.options.connectTimeoutMs,
        `connecting took more than ${this.options.connectTimeoutMs} ms`,
      );
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        await this.refreshTools().catch((e: Error) =>
          this.logger.warn({ server: this.name, err: e }, 'could not refresh tools'),
        );
      });
      client.onclose = () => {
        if (this.state === 'closed' || this.client !== client) return;
        this.fail(new Error(this.describeEnd(transport, 'the connection closed (the server exited or crashed)')));
      };
      this.client = client;
      await this.refreshTools();
      this.state = 'ready';
      this.hasConnected = true;
      this.attempt = 0;
      this.lastError = undefined;
      this.notifyStateWatchers();
      this.logger.info({ server: this.name, tools: this.tools.length }, `MCP server '${this.name}' connected`);
      this.onToolsChanged();
    } catch (error) {
      await client.close().catch(() => undefined);
      this.fail(new Error(this.describeEnd(transport, (error as Error).message, 'before it was ready')));
    }
  }

  /** Why a stdio server went away: how its process ended and its last stderr lines, when there are any. */
  private describeEnd(
    transport: ProcessGroupStdioTransport | StreamableHTTPClientTransport,
    fallback: string,
    when = '',
  ): string {
    if (!(transport instanceof ProcessGroupStdioTransport)) return fallback;
    const exit = transport.describeExit();
    const why = exit ? `the server ${exit}${when ? ` ${when}` : ''}` : fallback;
    return `${why}${this.stderr.describeLastLines()}`;
  }

  private async refreshTools(): Promise<void> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.client!.listTools(cursor ? { cursor } : undefined);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    this.tools = tools;
    this.onToolsChanged();
  }

  private fail(error: Error): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'down';
    this.lastError = error.message;
    this.client = undefined;
    if (wasReady) this.onToolsChanged();
    const delay = Math.min(
      this.options.reconnect.maxDelayMs,
      this.options.reconnect.initialDelayMs * 2 ** this.attempt++,
    );
    this.logger.warn(
      { server: this.name, err: error.message, retryInMs: delay },
      `MCP server '${this.name}' is down; reconnecting in ${delay} ms`,
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
