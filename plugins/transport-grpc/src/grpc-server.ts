import { context, propagation } from '@opentelemetry/api';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import {
  ApiKeys,
  ErrorCodes,
  OpspawnError,
  allows,
  isTaskId,
  type AgentRegistry,
  type ApiKeyConfig,
  type Health,
  type Logger,
  type Scope,
  type ScheduleService,
  type TaskService,
  type TaskStatus,
  type TaskStreamEvent,
  type Transport,
} from '@opspawn/plugin-sdk';
import { loadServiceDefinitions } from './proto-files.js';
import { createFromProto, scheduleToProto, updateFromProto } from './schedule-messages.js';
import { toServiceError } from './status-codes.js';
import {
  agentToProto,
  BadJsonField,
  batchFromProto,
  batchResultToProto,
  decisionFromProto,
  eventToProto,
  statusFromProto,
  submitFromProto,
  taskIdFromProto,
  taskToProto,
} from './task-messages.js';

export interface GrpcTransportOptions {
  host: string;
  port: number;
  apiKeys: ApiKeyConfig[];
  /** Serve without keys on a non-loopback address. */
  allowUnauthenticated: boolean;
  maxMessageBytes: number;
  reflection: boolean;
  /** How often the grpc.health.v1 status follows the kernel's readiness. */
  healthPollMs: number;
}

const SERVICE_NAME = 'opspawn.v1.TaskService';

type Unary = grpc.handleUnaryCall<Record<string, any>, unknown>;

/** The gRPC server: task service, grpc.health.v1 and server reflection. */
export class GrpcTransport implements Transport {
  readonly protocol = 'grpc';
  private readonly server: grpc.Server;
  private readonly keys: ApiKeys;
  private readonly healthService = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  private healthTimer?: NodeJS.Timeout;
  private boundPort = 0;

  constructor(
    private readonly options: GrpcTransportOptions,
    private readonly tasks: TaskService,
    private readonly agents: AgentRegistry,
    private readonly schedules: ScheduleService,
    private readonly health: Health,
    private readonly logger: Logger,
    /** This plugin's id: its own 'starting' state must not make it report NOT_SERVING. */
    private readonly pluginId = 'transport-grpc',
  ) {
    this.keys = new ApiKeys(options.apiKeys);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
    });
  }

  async listen(): Promise<void> {
    const { host, port, allowUnauthenticated } = this.options;
    this.keys.checkListener({ host, allowUnauthenticated, plugin: 'transport-grpc', what: 'gRPC' }, this.logger);
    const definition = loadServiceDefinitions();
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      opspawn: { v1: { TaskService: grpc.ServiceClientConstructor; ScheduleService: grpc.ServiceClientConstructor } };
    };
    this.server.addService(encodingWatchMessagesOnce(pkg.opspawn.v1.TaskService.service), this.handlers());
    this.server.addService(pkg.opspawn.v1.ScheduleService.service, this.scheduleHandlers());
    this.healthService.addToServer(this.server);
    if (this.options.reflection) new ReflectionService(definition).addToServer(this.server);
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      );
    });
    await this.followReadiness();
    this.healthTimer = setInterval(() => void this.followReadiness(), this.options.healthPollMs);
    this.healthTimer.unref();
  }

  addresses(): string[] {
    return [`${this.options.host}:${this.boundPort}`];
  }

  async close(): Promise<void> {
    clearInterval(this.healthTimer);
    this.healthService.setStatus('', 'NOT_SERVING');
    this.healthService.setStatus(SERVICE_NAME, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => this.server.forceShutdown(), 5000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private async followReadiness(): Promise<void> {
    const report = await this.health.report();
    const ready =
      report.live &&
      Object.entries(report.checks).every(([name, c]) => name === `plugin:${this.pluginId}` || c.state !== 'down');
    const status = ready ? 'SERVING' : 'NOT_SERVING';
    this.healthService.setStatus('', status);
    this.healthService.setStatus(SERVICE_NAME, status);
  }

  /** Throws UNAUTHENTICATED / FORBIDDEN unless the call's `authorization` metadata carries a key with the scope. */
  /** Refuses a call without a key of the `needed` scope; returns the key's name (`anonymous` on an open host). */
  private authorize(metadata: grpc.Metadata, needed: Scope): string {
    if (this.keys.open) return 'anonymous';
    const header = String(metadata.get('authorization')[0] ?? '');
    const presented = /^Bearer\s+(.+)$/i.exec(header)?.[1] ?? '';
    const who = presented ? this.keys.identify(presented) : undefined;
    if (!who) {
      throw new OpspawnError(
        ErrorCodes.UNAUTHENTICATED,
        presented ? 'the API key is not valid' : 'no API key: send `authorization: Bearer <key>` metadata',
        {
          hint: 'use a key from the deployment config',
        },
      );
    }
    if (!allows(who.scopes, needed)) {
      throw new OpspawnError(ErrorCodes.FORBIDDEN, `API key '${who.name}' lacks the '${needed}' scope`, {
        hint: `give the key the '${needed}' scope`,
      });
    }
    return who.name;
  }

  private unary(
    scope: Scope,
    run: (
      request: Record<string, any>,
      call: grpc.ServerUnaryCall<Record<string, any>, unknown>,
      by: string,
    ) => Promise<unknown>,
  ): Unary {
    return (call, callback) => {
      Promise.resolve()
        .then(() => this.authorize(call.metadata, scope))
        .then((by) => run(call.request, call, by))
        .then(
          (value) => callback(null, value),
          (error: unknown) => callback(this.fail(error)),
        );
    };
  }

  private fail(error: unknown): Partial<grpc.ServiceError> {
    if (error instanceof BadJsonField) {
      return toServiceError(
        new OpspawnError(
          error.path === 'task_json' ? ErrorCodes.SCHEDULE_INVALID : ErrorCodes.TASK_INVALID,
          error.message,
          {
            details: [{ path: error.path, message: error.message }],
          },
        ),
      );
    }
    const mapped = toServiceError(error);
    if (mapped.code === grpc.status.INTERNAL) this.logger.error({ err: error }, 'gRPC handler failed');
    return mapped;
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      Submit: this.unary('submit', async (req, call) => {
        const metadataKey = call.metadata.get('idempotency-key')[0]?.toString();
        // A caller's W3C `traceparent` metadata makes the task's spans part of its trace (nothing while none record).
        const caller = propagation.extract(context.active(), call.metadata.getMap());
        const { task, created } = await context.with(caller, () =>
          this.tasks.submit(submitFromProto(req as never, metadataKey)),
        );
        return { task: taskToProto(task), created };
      }),
      SubmitBatch: this.unary('submit', async (req, call) => {
        const metadataKey = call.metadata.get('idempotency-key')[0]?.toString();
        const results = await this.tasks.submitBatch(batchFromProto(req as never, metadataKey));
        return { results: results.map(batchResultToProto) };
      }),
      Get: this.unary('read', async (req) => taskToProto(await this.tasks.get(taskIdFromProto(req.id)))),
      List: this.unary('read', async (req) => {
        const status = (req.status as string[]).map((s) => {
          const found = statusFromProto(s);
          if (!found) throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `status: ${s} is not a task status`);
          return found;
        });
        const page = await this.tasks.list({
          status: status.length ? (status as TaskStatus[]) : undefined,
          labels: Object.keys(req.labels ?? {}).length ? req.labels : undefined,
          parentId: req.parentId ? parentIdFromProto(String(req.parentId)) : undefined,
          limit: req.limit || undefined,
          cursor: req.cursor || undefined,
        });
        return { tasks: page.tasks.map(taskToProto), nextCursor: page.nextCursor ?? '' };
      }),
      Cancel: this.unary('submit', async (req) => taskToProto(await this.tasks.cancel(taskIdFromProto(req.id)))),
      Watch: (call: grpc.ServerWritableStream<Record<string, any>, unknown>) => void this.watch(call),
      Decide: this.unary('submit', async (req, _call, by) =>
        taskToProto(
          await this.tasks.decide(taskIdFromProto(req.id), String(req.callId ?? ''), decisionFromProto(req), by),
        ),
      ),
      ListAgents: this.unary('read', async () => ({ agents: this.agents.list().map(agentToProto) })),
      GetAgent: this.unary('read', async (req) => agentToProto(this.agents.get(String(req.id ?? '')))),
    };
  }

  /** Scopes as over REST: reading needs `read`, every change `admin`. */
  private scheduleHandlers(): grpc.UntypedServiceImplementation {
    const { schedules } = this;
    const id = (req: Record<string, any>) => String(req.id ?? '');
    return {
      ListSchedules: this.unary('read', async () => ({ schedules: (await schedules.list()).map(scheduleToProto) })),
      GetSchedule: this.unary('read', async (req) => scheduleToProto(await schedules.get(id(req)))),
      CreateSchedule: this.unary('admin', async (req) => scheduleToProto(await schedules.create(createFromProto(req)))),
      UpdateSchedule: this.unary('admin', async (req) =>
        scheduleToProto(await schedules.update(id(req), updateFromProto(req))),
      ),
      DeleteSchedule: this.unary('admin', async (req) => {
        await schedules.delete(id(req));
        return {};
      }),
      PauseSchedule: this.unary('admin', async (req) => scheduleToProto(await schedules.pause(id(req)))),
      ResumeSchedule: this.unary('admin', async (req) => scheduleToProto(await schedules.resume(id(req)))),
    };
  }

  private async watch(call: grpc.ServerWritableStream<Record<string, any>, unknown>): Promise<void> {
    const controller = new AbortController();
    // A flag read per event: AbortSignal's `aborted` getter checks its receiver on each read, which showed in the
    // watchers bench's profile.
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
      controller.abort();
    });
    try {
      this.authorize(call.metadata, 'read');
      const id = taskIdFromProto(call.request.id);
      await this.tasks.get(id); // NOT_FOUND before the stream starts
      const options = { afterSeq: Number(call.request.afterSeq ?? 0), signal: controller.signal };
      const events = call.request.noDeltas ? this.tasks.watch(id, options) : this.tasks.watchLive(id, options);
      for await (const event of events) {
        if (cancelled) break;
        if (!call.write(watchMessage(event))) await drained(call, controller.signal);
      }
      call.end();
    } catch (error) {
      if (!cancelled) call.emit('error', this.fail(error));
    }
  }
}

/**
 * The streams watching one task write the same event objects (one bus delivery, shared store reads; ADR 0024): each
 * becomes a message once, and `encodingWatchMessagesOnce` encodes each message once, for all of them.
 */
const watchMessages = new WeakMap<TaskStreamEvent, Record<string, unknown>>();

function watchMessage(event: TaskStreamEvent): Record<string, unknown> {
  let message = watchMessages.get(event);
  if (!message) {
    message = eventToProto(event);
    watchMessages.set(event, message);
  }
  return message;
}

/**
 * The service with Watch's response encoder remembering the bytes of each message object it encoded. Messages are
 * never changed once written, so the bytes stay right; a message no stream holds any more is collected with them.
 */
function encodingWatchMessagesOnce(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const watch = service.Watch;
  if (!watch) throw new Error('the TaskService proto has no Watch method');
  const encode = watch.responseSerialize;
  const encoded = new WeakMap<object, Buffer>();
  const responseSerialize = (message: object): Buffer => {
    let bytes = encoded.get(message);
    if (!bytes) {
      bytes = encode(message);
      encoded.set(message, bytes);
    }
    return bytes;
  };
  return { ...service, Watch: { ...watch, responseSerialize } };
}

/**
 * Resolves when a slow client has read what was written, or when it goes away: a client cancelled while the server
 * waits here sends no 'drain', and its subscription would stay for good (ADR 0024).
 */
function drained(call: grpc.ServerWritableStream<Record<string, any>, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A list filter by parent: a malformed id is a bad request (no task can have it as its parent). */
function parentIdFromProto(id: string): string {
  if (!isTaskId(id))
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'parent_id must be a task id (task_ + 26 characters)', {
      details: [{ path: 'parent_id', message: 'must be a task id' }],
    });
  return id;
}
