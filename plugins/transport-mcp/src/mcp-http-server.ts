import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import {
  ApiKeys,
  ErrorCodes,
  OpspawnError,
  errorCategory,
  isOpspawnError,
  isServerSideCategory,
  type ApiKeyConfig,
  type Logger,
  type Scope,
  type Transport,
} from '@opspawn/plugin-sdk';
import { BoundedEventStore } from './bounded-event-store.js';
import type { TaskApi } from './task-api.js';
import { createTaskMcpServer } from './task-mcp-server.js';
import type { ToolExposure } from './task-tool-names.js';

export interface McpTransportOptions {
  host: string;
  port: number;
  /** Path of the Streamable HTTP endpoint. */
  path: string;
  apiKeys: ApiKeyConfig[];
  /** Serve without keys on a non-loopback address. */
  allowUnauthenticated: boolean;
  /** Browser origins allowed besides loopback ones. */
  allowedOrigins: string[];
  tools: ToolExposure;
  waitLimitMs: number;
  sessionIdleMs: number;
  /** Messages kept per session for resuming a stream; 0: no resumption. */
  resumeBufferSize: number;
  maxBodyBytes: number;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  close(): Promise<void>;
  /** The name of the key that opened it; only that key may use it. */
  keyName?: string;
  lastSeen: number;
  openRequests: number;
}

const LOOPBACK_ORIGIN = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;

/**
 * The MCP endpoint over Streamable HTTP (node:http + the SDK's transport): one MCP server per session, opened by
 * `initialize` with an API key and usable only with that key, closed by DELETE, by the client going away, or after
 * `sessionIdleMs` without requests. Refusals before a session's server sees the request are JSON-RPC errors with
 * the HTTP status of their category and the Opspawn code and fix in `error.data`.
 */
export class McpHttpTransport implements Transport {
  readonly protocol = 'mcp';
  private readonly server: Server;
  private readonly keys: ApiKeys;
  private readonly sessions = new Map<string, Session>();
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly options: McpTransportOptions,
    private readonly deps: { api: TaskApi; logger: Logger; version: string },
  ) {
    this.keys = new ApiKeys(options.apiKeys);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    this.sweep = setInterval(() => this.closeIdleSessions(), Math.min(60_000, options.sessionIdleMs / 2));
    this.sweep.unref();
  }

  async listen(): Promise<void> {
    const { host, port, allowUnauthenticated } = this.options;
    this.keys.checkListener(
      { host, allowUnauthenticated, plugin: 'transport-mcp', what: 'the MCP endpoint' },
      this.deps.logger,
    );
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
  }

  addresses(): string[] {
    const a = this.server.address() as AddressInfo | null;
    return a ? [`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}${this.options.path}`] : [];
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
    this.sessions.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://host').pathname;
      if (path !== this.options.path)
        throw new OpspawnError(ErrorCodes.NOT_FOUND, `no route ${req.method} ${path}`, {
          hint: `the MCP endpoint is ${this.options.path}`,
        });
      this.checkOrigin(req);
      const caller = this.authenticate(req);
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const session = this.sessions.get(sessionId);
        if (!session)
          throw new OpspawnError(ErrorCodes.MCP_SESSION_NOT_FOUND, `no open MCP session ${sessionId.slice(0, 60)}`);
        if (session.keyName !== caller?.name)
          throw new OpspawnError(ErrorCodes.FORBIDDEN, 'this MCP session was opened with another API key', {
            hint: 'use the key that opened the session, or initialize a new session with this one',
          });
        await this.serve(session, req, res, req.method === 'POST' ? await this.body(req) : undefined);
        return;
      }
      if (req.method !== 'POST')
        throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${req.method} needs an Mcp-Session-Id header`, {
          hint: 'open a session first: POST an initialize request, then send its Mcp-Session-Id with every request',
        });
      const body = await this.body(req);
      if (!isInitializeRequest(body))
        throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'a request without Mcp-Session-Id must be initialize', {
          hint: 'open a session first: POST an initialize request, then send its Mcp-Session-Id with every request',
        });
      const session = await this.open(caller);
      await this.serve(session, req, res, body);
      // The SDK refused the initialize (a wrong Accept header, say): no session was opened, so none stays behind.
      if (session.transport.sessionId === undefined) await session.close();
    } catch (error) {
      this.refuse(res, error);
    }
  }

  private async serve(session: Session, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    session.lastSeen = Date.now();
    session.openRequests++;
    res.once('close', () => {
      session.openRequests--;
      session.lastSeen = Date.now();
    });
    await session.transport.handleRequest(req, res, body);
  }

  private async open(caller: { name: string; scopes: Set<Scope> } | undefined): Promise<Session> {
    const { server, close } = createTaskMcpServer({
      api: this.deps.api,
      caller,
      tools: this.options.tools,
      waitLimitMs: this.options.waitLimitMs,
      version: this.deps.version,
      logger: this.deps.logger,
    });
    let id: string | undefined;
    let closed = false;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      ...(this.options.resumeBufferSize > 0
        ? { eventStore: new BoundedEventStore(this.options.resumeBufferSize) }
        : {}),
      onsessioninitialized: (sessionId) => {
        id = sessionId;
        this.sessions.set(sessionId, session);
      },
    });
    const session: Session = {
      transport,
      keyName: caller?.name,
      lastSeen: Date.now(),
      openRequests: 0,
      close: async () => {
        if (closed) return;
        closed = true;
        if (id) this.sessions.delete(id);
        await close().catch(() => undefined);
      },
    };
    transport.onclose = () => void session.close();
    await server.connect(transport);
    return session;
  }

  private closeIdleSessions(): void {
    const before = Date.now() - this.options.sessionIdleMs;
    for (const session of this.sessions.values())
      if (session.openRequests === 0 && session.lastSeen < before) void session.close();
  }

  /** Browsers send Origin: only loopback pages and the configured origins may call (DNS rebinding). */
  private checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (!origin || LOOPBACK_ORIGIN.test(origin) || this.options.allowedOrigins.includes(origin)) return;
    throw new OpspawnError(ErrorCodes.FORBIDDEN, `origin ${origin.slice(0, 100)} is not allowed`, {
      hint: 'add the origin to allowedOrigins in the transport-mcp options',
    });
  }

  private authenticate(req: IncomingMessage): { name: string; scopes: Set<Scope> } | undefined {
    if (this.keys.open) return undefined;
    const presented = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const who = presented ? this.keys.identify(presented) : undefined;
    if (!who)
      throw new OpspawnError(
        ErrorCodes.UNAUTHENTICATED,
        presented ? 'the API key is not valid' : 'send an API key as Authorization: Bearer <key>',
      );
    return who;
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.options.maxBodyBytes)
        throw new OpspawnError(
          ErrorCodes.BODY_TOO_LARGE,
          `the body is larger than ${this.options.maxBodyBytes} bytes`,
          {
            hint: 'send a smaller request, or raise maxBodyBytes in the transport-mcp options',
          },
        );
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      throw new OpspawnError(ErrorCodes.MALFORMED_JSON, (error as Error).message);
    }
  }

  private refuse(res: ServerResponse, error: unknown): void {
    const known = isOpspawnError(error) ? error : undefined;
    if (!known || isServerSideCategory(errorCategory(known.code)))
      this.deps.logger.error({ err: error }, 'MCP request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    const code = known?.code ?? ErrorCodes.INTERNAL;
    const status = httpStatusOf(code);
    res.writeHead(status, {
      'content-type': 'application/json',
      ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
    });
    res.end(
      JSON.stringify({
        jsonrpc: '2.0',
        error: {
          // -32001 is what the SDK's own transport answers for an unknown session; -32000 for other refusals.
          code: code === ErrorCodes.MCP_SESSION_NOT_FOUND ? -32001 : -32000,
          message:
            known && !isServerSideCategory(errorCategory(code))
              ? `${code}: ${known.message}`
              : `${code}: see the host logs`,
          data: { code, hint: known?.hint },
        },
        id: null,
      }),
    );
  }
}

/** The HTTP status of a refusal at the MCP endpoint (before any MCP server sees it). */
function httpStatusOf(code: string): number {
  switch (errorCategory(code)) {
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'too_large':
      return 413;
    case 'invalid':
      return 400;
    default:
      return 500;
  }
}
