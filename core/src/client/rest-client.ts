import {
  ErrorCodes,
  OpspawnError,
  type AgentInfo,
  type CreateScheduleRequest,
  type ApprovalDecision,
  type ErrorCode,
  type Schedule,
  type SubmitTaskRequest,
  type Task,
  type TaskEvent,
  type TaskStreamEvent,
  type TaskPage,
  type TaskStatus,
  type UpdateScheduleRequest,
} from '@opspawn/plugin-sdk';

/**
 * An RFC 9457 problem answered by the REST transport, or a failure to reach it, rebuilt as the OpspawnError the
 * server raised: its code, message and fix (`toString()` is the CLI's line), plus the HTTP status and field errors.
 */
export class ApiError extends OpspawnError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly errors?: Array<{ path: string; message: string }>,
    hint?: string,
  ) {
    // A code this client's SDK does not know (a newer server) keeps its text; its category then counts as internal.
    super(code as ErrorCode, message, { hint, details: errors });
    this.name = 'ApiError';
  }
}

export interface RestClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  token?: string;
}

/** A small client of the REST API (`/v1/...`), used by `opspawn tasks` and usable from scripts. */
export class RestClient {
  constructor(private readonly options: RestClientOptions) {}

  submit(request: SubmitTaskRequest, idempotencyKey?: string): Promise<Task> {
    return this.call('POST', '/v1/tasks', request, idempotencyKey ? { 'idempotency-key': idempotencyKey } : {});
  }

  get(id: string): Promise<Task> {
    return this.call('GET', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  list(
    query: {
      status?: TaskStatus[];
      labels?: Record<string, string>;
      parentId?: string;
      limit?: number;
      cursor?: string;
    } = {},
  ): Promise<TaskPage> {
    const params = new URLSearchParams();
    for (const s of query.status ?? []) params.append('status', s);
    for (const [k, v] of Object.entries(query.labels ?? {})) params.append('label', `${k}=${v}`);
    if (query.parentId) params.set('parentId', query.parentId);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    const qs = params.toString();
    return this.call('GET', `/v1/tasks${qs ? `?${qs}` : ''}`);
  }

  cancel(id: string): Promise<Task> {
    return this.call('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`);
  }

  /** `GET /v1/schedules`. */
  async schedules(): Promise<Schedule[]> {
    return (await this.call<{ schedules: Schedule[] }>('GET', '/v1/schedules')).schedules;
  }

  schedule(id: string): Promise<Schedule> {
    return this.call('GET', `/v1/schedules/${encodeURIComponent(id)}`);
  }

  createSchedule(request: CreateScheduleRequest): Promise<Schedule> {
    return this.call('POST', '/v1/schedules', request);
  }

  updateSchedule(id: string, change: UpdateScheduleRequest): Promise<Schedule> {
    return this.call('PATCH', `/v1/schedules/${encodeURIComponent(id)}`, change);
  }

  async deleteSchedule(id: string): Promise<void> {
    await this.fetch('DELETE', `/v1/schedules/${encodeURIComponent(id)}`, undefined, {});
  }

  /** `pause` or `resume`. */
  scheduleAction(id: string, verb: 'pause' | 'resume'): Promise<Schedule> {
    return this.call('POST', `/v1/schedules/${encodeURIComponent(id)}/${verb}`);
  }

  /** `POST /v1/tasks/{id}/approvals/{callId}`: approves or rejects the call the task waits on. */
  decide(id: string, callId: string, decision: ApprovalDecision): Promise<Task> {
    return this.call('POST', `/v1/tasks/${encodeURIComponent(id)}/approvals/${encodeURIComponent(callId)}`, decision);
  }

  /** `GET /v1/agents`: the host's agents, sorted by id. */
  async agents(): Promise<AgentInfo[]> {
    return (await this.call<{ agents: AgentInfo[] }>('GET', '/v1/agents')).agents;
  }

  /** The task's events over server-sent events, from `afterSeq`, until its final event. */
  watch(id: string, afterSeq = 0, signal?: AbortSignal): AsyncIterable<TaskEvent> {
    return this.eventStream(id, afterSeq, signal, false) as AsyncIterable<TaskEvent>;
  }

  /** `watch`, with the transient deltas (the answer as a streaming planner generates it) between the events. */
  watchLive(id: string, afterSeq = 0, signal?: AbortSignal): AsyncIterable<TaskStreamEvent> {
    return this.eventStream(id, afterSeq, signal, true);
  }

  private async *eventStream(
    id: string,
    afterSeq: number,
    signal: AbortSignal | undefined,
    deltas: boolean,
  ): AsyncIterable<TaskStreamEvent> {
    const response = await this.fetch(
      'GET',
      `/v1/tasks/${encodeURIComponent(id)}/events${deltas ? '' : '?deltas=false'}`,
      undefined,
      {
        accept: 'text/event-stream',
        ...(afterSeq > 0 ? { 'last-event-id': String(afterSeq) } : {}),
      },
      signal,
    );
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) yield JSON.parse(data) as TaskStreamEvent;
      }
    }
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await this.fetch(method, path, body, headers);
    return (await response.json()) as T;
  }

  private async fetch(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.url), {
        method,
        signal,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new ApiError(
        0,
        ErrorCodes.UNREACHABLE,
        `cannot reach ${this.options.url}${cause ? ` (${cause})` : ''}: is the host running? (opspawn start)`,
      );
    }
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as {
        code?: string;
        detail?: string;
        title?: string;
        hint?: string;
        errors?: Array<{ path: string; message: string }>;
      };
      throw new ApiError(
        response.status,
        problem.code ?? codeForStatus(response.status),
        problem.detail ?? problem.title ?? response.statusText,
        problem.errors,
        problem.hint,
      );
    }
    return response;
  }
}

/** The code of an answer that is not an Opspawn problem (e.g. a proxy's error page in front of the host). */
function codeForStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCodes.UNAUTHENTICATED;
  if (status === 403) return ErrorCodes.FORBIDDEN;
  if (status === 404) return ErrorCodes.NOT_FOUND;
  if (status === 502 || status === 503 || status === 504) return ErrorCodes.UNREACHABLE;
  if (status >= 400 && status < 500) return ErrorCodes.INVALID_REQUEST;
  return ErrorCodes.INTERNAL;
}
