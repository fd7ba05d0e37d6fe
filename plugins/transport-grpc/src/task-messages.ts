import {
  assertNever,
  ErrorCodes,
  isTaskId,
  OpspawnError,
  TASK_STATUSES,
  type AgentInfo,
  type ApprovalDecision,
  type BatchItemResult,
  type SubmitTaskRequest,
  type Task,
  type TaskStreamEvent,
  type TaskStatus,
} from '@opspawn/plugin-sdk';

/** Proto enum names (`TASK_STATUS_QUEUED`) to and from the task model's statuses. */
export function statusToProto(status: TaskStatus): string {
  return `TASK_STATUS_${status.toUpperCase()}`;
}

export function statusFromProto(name: string): TaskStatus | undefined {
  const s = name.replace(/^TASK_STATUS_/, '').toLowerCase();
  return (TASK_STATUSES as readonly string[]).includes(s) ? (s as TaskStatus) : undefined;
}

const json = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value));

export function taskToProto(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    goal: task.goal,
    inputJson: json(task.input),
    planner: task.planner,
    memory: task.memory,
    sessionId: task.sessionId,
    status: statusToProto(task.status),
    outputJson: json(task.output),
    error: task.error ?? null,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    maxSteps: task.maxSteps,
    priority: task.priority,
    idempotencyKey: task.idempotencyKey ?? '',
    labels: task.labels,
    notBefore: task.notBefore ?? '',
    cancelRequested: task.cancelRequested,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    startedAt: task.startedAt ?? '',
    finishedAt: task.finishedAt ?? '',
    leaseExpiresAt: task.leaseExpiresAt ?? '',
    agent: task.agent ?? '',
    parentId: task.parentId ?? '',
    ...(task.usage ? { usage: task.usage } : {}),
  };
}

/** A request's task id. One that cannot be a task id is NOT_FOUND without asking the store, as over REST. */
export function taskIdFromProto(value: unknown): string {
  const id = String(value ?? '');
  if (!isTaskId(id))
    throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task ${id.slice(0, 60)}`, {
      hint: 'task ids look like task_01J...',
    });
  return id;
}

/**
 * An event as a `TaskEvent` message, its data as JSON text. Each type is listed, so a new one fails to compile
 * here until someone decides it belongs on the Watch stream that gRPC clients switch on.
 */
export function eventToProto(event: TaskStreamEvent): Record<string, unknown> {
  switch (event.type) {
    case 'delta':
      return {
        taskId: event.taskId,
        seq: 0,
        type: event.type,
        at: event.at,
        dataJson: JSON.stringify(event.data),
        transient: true,
        afterSeq: event.afterSeq,
        index: event.index,
      };
    case 'status':
    case 'plan':
    case 'tool_call':
    case 'tool_result':
    case 'final':
    case 'log':
    case 'handoff':
    case 'approval_requested':
    case 'approval_decided':
      return {
        taskId: event.taskId,
        seq: event.seq,
        type: event.type,
        at: event.at,
        dataJson: JSON.stringify(event.data),
      };
    default:
      return assertNever(event, 'task event type');
  }
}

export class BadJsonField extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: not valid JSON (${detail})`);
  }
}

interface SubmitMessage {
  goal: string;
  inputJson: string;
  planner: string;
  memory: string;
  sessionId: string;
  labels: Record<string, string>;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: string | number;
  maxSteps?: number;
  notBefore: string;
  idempotencyKey: string;
  agent?: string;
}

/** The proto request as the task service's request; empty strings mean "not given", as in proto3. */
export function submitFromProto(m: SubmitMessage, metadataKey: string | undefined): SubmitTaskRequest {
  let input: unknown = null;
  if (m.inputJson) {
    try {
      input = JSON.parse(m.inputJson);
    } catch (error) {
      throw new BadJsonField('input_json', (error as Error).message);
    }
  }
  const request: SubmitTaskRequest = { goal: m.goal, input, labels: m.labels ?? {} };
  if (m.planner) request.planner = m.planner;
  if (m.memory) request.memory = m.memory;
  if (m.agent) request.agent = m.agent;
  if (m.sessionId) request.sessionId = m.sessionId;
  if (m.priority !== undefined && m.priority !== null) request.priority = m.priority;
  if (m.maxAttempts !== undefined && m.maxAttempts !== null) request.maxAttempts = m.maxAttempts;
  if (m.timeoutMs !== undefined && m.timeoutMs !== null) request.timeoutMs = Number(m.timeoutMs);
  if (m.maxSteps !== undefined && m.maxSteps !== null) request.maxSteps = m.maxSteps;
  if (m.notBefore) request.notBefore = m.notBefore;
  const key = m.idempotencyKey || metadataKey;
  if (key) request.idempotencyKey = key;
  return request;
}

/**
 * A SubmitBatch request's tasks as the task service's requests; a task's bad `input_json` is named by its index.
 * Keys go on each task: `idempotency-key` metadata, which would give every task one key, is refused.
 */
export function batchFromProto(m: { tasks?: SubmitMessage[] }, metadataKey: string | undefined): SubmitTaskRequest[] {
  if (metadataKey)
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'a batch takes idempotency keys per task, not in metadata', {
      hint: 'drop the idempotency-key metadata and set idempotency_key on each task of the batch',
      details: [{ path: 'idempotency-key', message: 'not accepted on a batch' }],
    });
  return (m.tasks ?? []).map((task, index) => {
    try {
      return submitFromProto(task, undefined);
    } catch (error) {
      if (error instanceof BadJsonField) throw new BadJsonField(`tasks[${index}].${error.path}`, error.detail);
      throw error;
    }
  });
}

/** The result of one task of a batch as a `SubmitBatchResult` message. */
export function batchResultToProto(result: BatchItemResult): Record<string, unknown> {
  if ('error' in result) return { error: result.error };
  return { submitted: { task: taskToProto(result.task), created: result.created } };
}

/** An agent as an `Agent` message; unset limits stay unset (proto3 `optional`). */
export function agentToProto(agent: AgentInfo): Record<string, unknown> {
  return {
    id: agent.id,
    description: agent.description ?? '',
    planner: agent.planner,
    memory: agent.memory,
    tools: agent.tools,
    limits: { ...agent.limits },
    labels: agent.labels,
  };
}

/** A `DecideRequest` as the task service's decision: `arguments_json` is JSON text, empty for none. */
export function decisionFromProto(req: Record<string, any>): ApprovalDecision {
  const decision =
    req.decision === 'DECISION_APPROVE' ? 'approve' : req.decision === 'DECISION_REJECT' ? 'reject' : undefined;
  return {
    decision,
    ...(req.note ? { note: String(req.note) } : {}),
    ...(req.argumentsJson ? { arguments: parseJsonField(String(req.argumentsJson), 'arguments_json') } : {}),
  } as ApprovalDecision;
}

function parseJsonField(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadJsonField(path, (error as Error).message);
  }
}
