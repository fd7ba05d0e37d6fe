import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiKeys,
  ErrorCodes,
  allows,
  errorDefinition,
  type ApiKeyConfig,
  type ErrorCode,
  type HttpRouteScope,
  type Logger,
} from '@opspawn/plugin-sdk';
import type { TaskMetrics } from './task-metrics.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  apiKeys: ApiKeyConfig[];
  allowUnauthenticated: boolean;
  scope: HttpRouteScope;
}

/**
 * `GET /metrics` on a port of its own, for a process without a REST transport (a worker). The same API keys and
 * scopes as REST, given in this plugin's options; refusals are RFC 9457 problems like REST's.
 */
export class MetricsServer {
  private readonly server: Server;
  private readonly keys: ApiKeys;

  constructor(
    private readonly options: MetricsServerOptions,
    private readonly metrics: TaskMetrics,
    private readonly logger: Logger,
  ) {
    this.keys = new ApiKeys(options.apiKeys);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        logger.error({ err: error }, 'metrics scrape failed');
        this.problem(res, 500, ErrorCodes.INTERNAL, 'the metrics could not be collected');
      });
    });
  }

  async listen(): Promise<void> {
    const { host, port, allowUnauthenticated } = this.options;
    this.keys.checkListener(
      { host, allowUnauthenticated, plugin: 'metrics-prometheus', what: 'the metrics port' },
      this.logger,
    );
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
  }

  address(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return this.problem(res, 404, ErrorCodes.NOT_FOUND, `no route ${req.method} ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return this.problem(res, 405, ErrorCodes.METHOD_NOT_ALLOWED, 'this route accepts GET');
    const scope = this.options.scope;
    if (scope !== 'public' && !this.keys.open) {
      const presented = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const who = presented ? this.keys.identify(presented) : undefined;
      if (!who)
        return this.problem(
          res,
          401,
          ErrorCodes.UNAUTHENTICATED,
          presented ? 'the API key is not valid' : 'send an API key as Authorization: Bearer <key>',
        );
      if (!allows(who.scopes, scope))
        return this.problem(res, 403, ErrorCodes.FORBIDDEN, `API key '${who.name}' lacks the '${scope}' scope`);
    }
    const { contentType, text } = await this.metrics.scrape();
    res.writeHead(200, { 'content-type': contentType });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  private problem(res: ServerResponse, status: number, code: ErrorCode, detail: string): void {
    const def = errorDefinition(code)!;
    const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    res.writeHead(status, headers);
    res.end(
      JSON.stringify({ type: def.docUrl, title: def.description, status, detail, code: def.code, hint: def.hint }),
    );
  }
}
