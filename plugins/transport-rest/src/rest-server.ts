import { context, propagation } from '@opentelemetry/api';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { Router } from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import {
  ApiKeys,
  ErrorCodes,
  OpspawnError,
  TASK_STATUSES,
  allows,
  assertNever,
  isTaskId,
  type ApiKeyConfig,
  type Health,
  type Logger,
  type PluginRegistry,
  type AgentRegistry,
  type HttpMethod,
  type HttpRequest,
  type HttpRoute,
  type HttpRoutes,
  type Provided,
  type Scope,
  type ScheduleService,
  type SubmitTaskRequest,
  type TaskStreamEvent,
  type TaskService,
  type TaskStatus,
  type ToolRegistry,
  type Transport,
} from '@opspawn/plugin-sdk';
import { openApiDocument } from './openapi.js';
import { RETRY_AFTER_SECONDS, toProblem } from './problems.js';

export interface RestTransportOptions {
  host: string;
  port: number;
  apiKeys: ApiKeyConfig[];
  /** Serve without keys on a non-loopback address. */
  allowUnauthenticated: boolean;
  maxBodyBytes: number;
  sseHeartbeatMs: number;
  cors: { origins: string[] };
}

export interface RestDeps {
  tasks: TaskService;
  tools: ToolRegistry;
  plugins: PluginRegistry;
  agents: AgentRegistry;
  schedules: ScheduleService;
  health: Health;
  logger: Logger;
  version: string;
  /** Routes other plugins serve on this port (metrics, a dashboard), behind the same keys. */
  routes?: Provided<HttpRoutes>[];
}

/** First path segments the transport keeps for itself: no plugin may claim them as its prefix. */
const OWN_PREFIXES = ['/v1', '/healthz', '/readyz', '/openapi.json'];
const PREFIX_PATTERN = /^\/[a-z0-9][a-z0-9._-]*$/i;
const HTTP_METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The REST transport: koa + @koa/router, RFC 9457 errors, API keys with scopes, SSE for live events. */
export class RestTransport implements Transport {
  readonly protocol = 'http';
  private readonly server: Server;
  private readonly keys: ApiKeys;
  private readonly streams = new Set<() => void>();
  private readonly openapi: Record<string, unknown>;

  constructor(
    private readonly options: RestTransportOptions,
    private readonly deps: RestDeps,
  ) {
    this.keys = new ApiKeys(options.apiKeys);
    this.openapi = openApiDocument(deps.version);
    const app = new Koa();
    app.proxy = false;
    app.silent = true;
    app.use((ctx, next) => this.errors(ctx, next));
    app.use((ctx, next) => this.cors(ctx, next));
    app.use(async (ctx, next) => {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false)
        throw new OpspawnError(ErrorCodes.NOT_FOUND, `no route ${ctx.method} ${ctx.path}`);
    });
    const router = this.routes();
    this.mountPluginRoutes(router, deps.routes ?? []);
    app.use(router.routes());
    app.use(
      router.allowedMethods({
        throw: true,
        methodNotAllowed: () =>
          new OpspawnError(ErrorCodes.METHOD_NOT_ALLOWED, 'this route does not accept this method'),
        notImplemented: () => new OpspawnError(ErrorCodes.METHOD_NOT_ALLOWED, 'unsupported method'),
      }),
    );
    this.server = createServer(app.callback());
    this.server.keepAliveTimeout = 65_000;
  }

  async listen(): Promise<void> {
    const { host, port, allowUnauthenticated } = this.options;
    this.keys.checkListener(
      { host, allowUnauthenticated, plugin: 'transport-rest', what: 'the REST API' },
      this.deps.logger,
    );
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const address = this.addresses()[0];
    if (address) for (const { value } of this.deps.routes ?? []) value.mounted?.(address);
  }

  addresses(): string[] {
    const a = this.server.address() as AddressInfo | null;
    return a ? [`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`] : [];
  }

  async close(): Promise<void> {
    for (const end of this.streams) end();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  // ---- middleware -------------------------------------------------------------------------------

  private async errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const problem = toProblem(error, ctx.path);
      if (problem.status >= 500 && problem.status !== 503)
        this.deps.logger.error({ err: error, path: ctx.path }, 'REST handler failed');
      ctx.status = problem.status;
      ctx.type = 'application/problem+json';
      if (problem.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      if (problem.status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.body = JSON.stringify(problem);
    }
  }

  private async cors(ctx: Context, next: Next): Promise<void> {
    const origin = ctx.get('origin');
    const allowed = origin && (this.options.cors.origins.includes('*') || this.options.cors.origins.includes(origin));
    if (allowed) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Vary', 'Origin');
      if (ctx.method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'GET, POST, PATCH, DELETE');
        ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID');
        ctx.status = 204;
        return;
      }
    }
    await next();
  }

  /** Refuses a request without a key of the `needed` scope; returns the key's name (`anonymous` on an open host). */
  private authorize(ctx: Context, needed: Scope): string {
    if (this.keys.open) return 'anonymous';
    const presented = /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
    const who = presented ? this.keys.identify(presented) : undefined;
    if (!who)
      throw new OpspawnError(
        ErrorCodes.UNAUTHENTICATED,
        presented ? 'the API key is not valid' : 'send an API key as Authorization: Bearer <key>',
      );
    if (!allows(who.scopes, needed))
      throw new OpspawnError(ErrorCodes.FORBIDDEN, `API key '${who.name}' lacks the '${needed}' scope`);
    return who.name;
  }

  /** The JSON body, refused unless it is application/json, within the size limit, and an object. */
  private async body(ctx: Context): Promise<Record<string, unknown>> {
    if (!ctx.is('application/json'))
      throw new OpspawnError(
        ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
        `Content-Type must be application/json, got '${ctx.get('content-type') || 'none'}'`,
      );
    const raw = await this.rawBody(ctx);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new OpspawnError(ErrorCodes.MALFORMED_JSON, (error as Error).message);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'the body must be a JSON object', {
        details: [{ path: '', message: 'must be an object' }],
      });
    }
    return parsed as Record<string, unknown>;
  }

  /** The body's bytes, refused beyond `maxBodyBytes`. */
  private async rawBody(ctx: Context): Promise<Buffer> {
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > this.options.maxBodyBytes)
      throw new OpspawnError(
        ErrorCodes.BODY_TOO_LARGE,
        `the body is ${declared} bytes; at most ${this.options.maxBodyBytes} are accepted`,
      );
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > this.options.maxBodyBytes)
        throw new OpspawnError(ErrorCodes.BODY_TOO_LARGE, `the body is larger than ${this.options.maxBodyBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  // ---- plugin routes ----------------------------------------------------------------------------

  /**
   * Mounts the routes other plugins provide, each behind its scope, and lists them in the OpenAPI document. A
   * prefix that is malformed, the transport's own, or claimed twice refuses the start (OPSPAWN_HTTP_ROUTES_INVALID).
   */
  private mountPluginRoutes(router: Router, provided: Provided<HttpRoutes>[]): void {
    const claimed = new Map<string, string>();
    const invalid = (plugin: string, message: string, hint: string) =>
      // Raised by this transport's start, so it names this transport as the plugin that failed; the message names the other.
      new OpspawnError(ErrorCodes.HTTP_ROUTES_INVALID, `plugin '${plugin}' ${message}`, {
        hint,
        plugin: 'transport-rest',
      });
    for (const { plugin, value } of provided) {
      const { prefix } = value;
      if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix))
        throw invalid(plugin, `claims prefix ${JSON.stringify(prefix)}`, 'a prefix is one path segment, e.g. /metrics');
      if (OWN_PREFIXES.includes(prefix))
        throw invalid(plugin, `claims prefix ${prefix}, which transport-rest serves`, 'choose another prefix');
      const owner = claimed.get(prefix);
      if (owner)
        throw invalid(plugin, `claims prefix ${prefix}, which plugin '${owner}' claims too`, 'disable one of them');
      claimed.set(prefix, plugin);
      for (const route of value.routes) {
        if (route.path !== prefix && !route.path.startsWith(`${prefix}/`))
          throw invalid(plugin, `serves ${route.path} outside its prefix ${prefix}`, `put the route under ${prefix}/`);
        if (!HTTP_METHODS.includes(route.method))
          throw invalid(plugin, `serves ${route.path} with method ${String(route.method)}`, HTTP_METHODS.join(', '));
        if (route.scope !== 'public' && !['read', 'submit', 'admin'].includes(route.scope))
          throw invalid(
            plugin,
            `serves ${route.path} with scope ${String(route.scope)}`,
            'read, submit, admin or public',
          );
        router.register(route.path, [route.method], async (ctx) => {
          if (route.scope !== 'public') this.authorize(ctx, route.scope);
          await this.answer(ctx, route);
        });
        this.document(route, plugin);
      }
    }
  }

  private async answer(ctx: Context, route: HttpRoute): Promise<void> {
    const controller = new AbortController();
    ctx.res.once('close', () => controller.abort());
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(ctx.query)) if (v !== undefined) query[k] = v;
    const request: HttpRequest = {
      method: ctx.method as HttpMethod,
      path: ctx.path,
      params: { ...(ctx.params as Record<string, string>) },
      query,
      headers: ctx.headers,
      body: () => this.rawBody(ctx),
      signal: controller.signal,
    };
    const response = await route.handle(request);
    ctx.status = response.status ?? 200;
    for (const [name, value] of Object.entries(response.headers ?? {})) ctx.set(name, value);
    const body = response.body;
    if (body === undefined) {
      if (ctx.status === 404) ctx.body = '';
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array)
      ctx.body = typeof body === 'string' ? body : Buffer.from(body);
    else if (Symbol.asyncIterator in body)
      ctx.body = Readable.from(body as AsyncIterable<string | Uint8Array>, { objectMode: false });
    else ctx.body = body;
  }

  /** Lists a plugin's route in the served OpenAPI document. */
  private document(route: HttpRoute, plugin: string): void {
    this.openapi.paths ??= {};
    const paths = this.openapi.paths as Record<string, Record<string, unknown>>;
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const params = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const problem = (description: string) => ({
      description,
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    });
    paths[path] = {
      ...paths[path],
      [route.method.toLowerCase()]: {
        operationId: `${plugin}:${route.method.toLowerCase()}:${route.path}`,
        summary: route.summary ?? `Served by plugin ${plugin}`,
        tags: [`plugin:${plugin}`],
        security: route.scope === 'public' ? [] : [{ apiKey: [] }],
        ...(params.length ? { parameters: params } : {}),
        responses: {
          200: { description: `What plugin ${plugin} answers` },
          ...(route.scope === 'public'
            ? {}
            : { 401: problem('No or unknown API key'), 403: problem(`The key lacks the ${route.scope} scope`) }),
        },
      },
    };
  }

  // ---- routes -----------------------------------------------------------------------------------

  private routes(): Router {
    const r = new Router();
    const { tasks } = this.deps;

    r.get('/healthz', (ctx) => {
      ctx.body = { live: true };
    });
    r.get('/readyz', async (ctx) => {
      const report = await this.deps.health.report();
      ctx.status = report.ready ? 200 : 503;
      ctx.body = report;
    });
    r.get('/openapi.json', (ctx) => {
      ctx.body = this.openapi;
    });

    r.post('/v1/tasks', async (ctx) => {
      this.authorize(ctx, 'submit');
      const body = await this.body(ctx);
      const key = ctx.get('idempotency-key');
      // A caller's W3C `traceparent` header makes the task's spans part of its trace (nothing while none record).
      const caller = propagation.extract(context.active(), ctx.headers);
      const { task, created } = await context.with(caller, () =>
        tasks.submit(key ? ({ ...body, idempotencyKey: key } as never) : (body as never)),
      );
      ctx.status = created ? 202 : 200;
      if (!created) ctx.set('Idempotent-Replayed', 'true');
      ctx.set('Location', `/v1/tasks/${task.id}`);
      ctx.body = task;
    });
    r.post('/v1/tasks/batch', async (ctx) => {
      this.authorize(ctx, 'submit');
      if (ctx.get('idempotency-key'))
        throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'a batch takes idempotency keys per task, not in a header', {
          hint: 'drop the Idempotency-Key header and set idempotencyKey on each task of the batch',
          details: [{ path: 'Idempotency-Key', message: 'not accepted on a batch' }],
        });
      const results = await tasks.submitBatch(batchTasks(await this.body(ctx)));
      ctx.status = results.some((r) => 'created' in r && r.created) ? 202 : 200;
      ctx.body = { results };
    });
    r.get('/v1/tasks', async (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = await tasks.list(listQuery(ctx));
    });
    r.get('/v1/tasks/:id', async (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = await tasks.get(taskId(ctx.params.id));
    });
    r.post('/v1/tasks/:id/cancel', async (ctx) => {
      this.authorize(ctx, 'submit');
      ctx.body = await tasks.cancel(taskId(ctx.params.id));
    });
    r.post('/v1/tasks/:id/approvals/:callId', async (ctx) => {
      const by = this.authorize(ctx, 'submit');
      const id = taskId(ctx.params.id);
      const body = await this.body(ctx);
      ctx.body = await tasks.decide(id, ctx.params.callId!, body as never, by);
    });
    r.get('/v1/tasks/:id/events', async (ctx) => {
      this.authorize(ctx, 'read');
      const id = taskId(ctx.params.id);
      const after = nonNegative(ctx.get('last-event-id') || (ctx.query.after as string | undefined), 'after');
      if (
        !ctx.accepts('application/json', 'text/event-stream') ||
        ctx.accepts('application/json', 'text/event-stream') === 'application/json' ||
        !ctx.get('accept').includes('text/event-stream')
      ) {
        const limit = ctx.query.limit === undefined ? 500 : positive(ctx.query.limit as string, 'limit', 1000);
        ctx.body = { events: await tasks.events(id, after, limit) };
        return;
      }
      await tasks.get(id);
      this.stream(ctx, id, after, flag(ctx.query.deltas as string | undefined, 'deltas', true));
    });
    r.get('/v1/plugins', (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = { plugins: this.deps.plugins.list() };
    });
    r.get('/v1/agents', (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = { agents: this.deps.agents.list() };
    });
    r.get('/v1/agents/:id', (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = this.deps.agents.get(ctx.params.id!);
    });
    r.get('/v1/tools', async (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = { tools: await this.deps.tools.list() };
    });
    this.scheduleRoutes(r);
    return r;
  }

  /** Reading needs `read`; creating, changing, pausing and deleting schedules need `admin` (they submit tasks later). */
  private scheduleRoutes(r: Router): void {
    const { schedules } = this.deps;
    r.get('/v1/schedules', async (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = { schedules: await schedules.list() };
    });
    r.post('/v1/schedules', async (ctx) => {
      this.authorize(ctx, 'admin');
      const schedule = await schedules.create((await this.body(ctx)) as never);
      ctx.status = 201;
      ctx.set('Location', `/v1/schedules/${schedule.id}`);
      ctx.body = schedule;
    });
    r.get('/v1/schedules/:id', async (ctx) => {
      this.authorize(ctx, 'read');
      ctx.body = await schedules.get(ctx.params.id!);
    });
    r.patch('/v1/schedules/:id', async (ctx) => {
      this.authorize(ctx, 'admin');
      ctx.body = await schedules.update(ctx.params.id!, (await this.body(ctx)) as never);
    });
    r.delete('/v1/schedules/:id', async (ctx) => {
      this.authorize(ctx, 'admin');
      await schedules.delete(ctx.params.id!);
      ctx.status = 204;
    });
    r.post('/v1/schedules/:id/pause', async (ctx) => {
      this.authorize(ctx, 'admin');
      ctx.body = await schedules.pause(ctx.params.id!);
    });
    r.post('/v1/schedules/:id/resume', async (ctx) => {
      this.authorize(ctx, 'admin');
      ctx.body = await schedules.resume(ctx.params.id!);
    });
  }

  /**
   * Server-sent events: `id: seq`, `event: type`, `data: json`; heartbeats; ends after the final status event.
   * Transient deltas (unless `deltas` is false) go between them without an `id`, so Last-Event-ID names a stored event.
   */
  private stream(ctx: Context, id: string, after: number, deltas: boolean): void {
    ctx.respond = false;
    const res = ctx.res;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': opspawn task events\n\n');
    const controller = new AbortController();
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.options.sseHeartbeatMs);
    const end = () => controller.abort();
    this.streams.add(end);
    ctx.req.on('close', end);
    void (async () => {
      try {
        const options = { afterSeq: after, signal: controller.signal };
        const events = deltas ? this.deps.tasks.watchLive(id, options) : this.deps.tasks.watch(id, options);
        for await (const event of events) res.write(sseFrame(event));
      } catch (error) {
        if (!controller.signal.aborted) this.deps.logger.warn({ err: error, taskId: id }, 'event stream failed');
      } finally {
        clearInterval(heartbeat);
        this.streams.delete(end);
        res.end();
      }
    })();
  }
}

/** One server-sent event, serialized and encoded to UTF-8 once however many streams send it. */
function sseFrame(event: TaskStreamEvent): Buffer {
  const known = framed.get(event);
  if (known !== undefined) return known;
  const frame = Buffer.from(frameOf(event));
  framed.set(event, frame);
  return frame;
}

/**
 * Frames by event: the bus hands one event object to every watcher of its task, so a thousand streams on one task
 * serialize it once (ADR 0024). Weak, so a frame goes with its event.
 */
const framed = new WeakMap<TaskStreamEvent, Buffer>();

/**
 * One server-sent event: `id` the seq (for Last-Event-ID), `event` the type, `data` the event as JSON. Each type is
 * listed, so a new one fails to compile here until someone decides it belongs on the stream clients listen to.
 */
function frameOf(event: TaskStreamEvent): string {
  switch (event.type) {
    case 'delta':
      // Transient: no id, so a reconnect resumes after the last stored event (whose decision holds this text).
      return `event: delta\ndata: ${JSON.stringify(event)}\n\n`;
    case 'status':
    case 'plan':
    case 'tool_call':
    case 'tool_result':
    case 'final':
    case 'log':
    case 'handoff':
    case 'approval_requested':
    case 'approval_decided':
      return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    default:
      return assertNever(event, 'task event type');
  }
}

/** The tasks of a batch body `{ tasks: [...] }`; anything else is a bad request naming the field. */
function batchTasks(body: Record<string, unknown>): SubmitTaskRequest[] {
  const unknown = Object.keys(body).filter((key) => key !== 'tasks');
  if (!Array.isArray(body.tasks) || unknown.length > 0)
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'a batch body is { tasks: [...] } and nothing else', {
      hint: 'send { "tasks": [ <task request>, ... ] }',
      details: Array.isArray(body.tasks)
        ? unknown.map((path) => ({ path, message: 'is not a known field' }))
        : [{ path: 'tasks', message: 'must be an array of task requests' }],
    });
  return body.tasks as SubmitTaskRequest[];
}

function taskId(value: string | undefined): string {
  if (!value || !isTaskId(value))
    throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task ${String(value).slice(0, 60)}`, {
      hint: 'task ids look like task_01J...',
    });
  return value;
}

function values(v: unknown): string[] {
  return (Array.isArray(v) ? v : v === undefined ? [] : [v])
    .flatMap((s) => String(s).split(','))
    .filter((s) => s.length > 0);
}

function nonNegative(value: string | undefined, path: string): number {
  if (value === undefined || value === '') return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${path} must be a non-negative integer`, {
      details: [{ path, message: 'must be a non-negative integer' }],
    });
  return n;
}

function positive(value: string, path: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${path} must be an integer from 1 to ${max}`, {
      details: [{ path, message: `must be 1..${max}` }],
    });
  return n;
}

function listQuery(ctx: Context): {
  status?: TaskStatus[];
  labels?: Record<string, string>;
  parentId?: string;
  limit?: number;
  cursor?: string;
} {
  const known = new Set(['status', 'label', 'parentId', 'limit', 'cursor']);
  const unknown = Object.keys(ctx.query).filter((k) => !known.has(k));
  if (unknown.length)
    throw new OpspawnError(
      ErrorCodes.INVALID_REQUEST,
      `unknown query parameter ${unknown.map((u) => `'${u}'`).join(', ')}`,
      { details: unknown.map((u) => ({ path: u, message: 'is not a known parameter' })) },
    );
  const status = values(ctx.query.status);
  for (const s of status) {
    if (!(TASK_STATUSES as readonly string[]).includes(s))
      throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `status '${s}' is not one of ${TASK_STATUSES.join(', ')}`, {
        details: [{ path: 'status', message: `must be one of ${TASK_STATUSES.join(', ')}` }],
      });
  }
  const labels: Record<string, string> = Object.create(null);
  for (const l of values(ctx.query.label)) {
    const eq = l.indexOf('=');
    if (eq <= 0)
      throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `label '${l}' must be key=value`, {
        details: [{ path: 'label', message: 'must be key=value' }],
      });
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const cursor = typeof ctx.query.cursor === 'string' ? ctx.query.cursor : undefined;
  const parentId = ctx.query.parentId;
  if (parentId !== undefined && (typeof parentId !== 'string' || !isTaskId(parentId)))
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'parentId must be one task id (task_ + 26 characters)', {
      details: [{ path: 'parentId', message: 'must be a task id' }],
    });
  return {
    ...(status.length ? { status: status as TaskStatus[] } : {}),
    ...(Object.keys(labels).length ? { labels: { ...labels } } : {}),
    ...(parentId !== undefined ? { parentId } : {}),
    ...(ctx.query.limit !== undefined ? { limit: positive(String(ctx.query.limit), 'limit', 500) } : {}),
    ...(cursor !== undefined ? { cursor } : {}),
  };
}

function flag(value: string | undefined, path: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `${path} must be true or false`, {
    details: [{ path, message: 'must be true or false' }],
  });
}
