import { SpanKind, type Span } from '@opentelemetry/api';
import {
  ErrorCodes,
  OpspawnError,
  describeError,
  isFinalStatus,
  isOpspawnError,
  newTaskId,
  MAX_BATCH_TASKS,
  type ApprovalDecision,
  type BatchItemResult,
  type Broker,
  type EventBus,
  type Logger,
  type Memory,
  type Planner,
  type SubmitTaskRequest,
  type Task,
  type TaskIdentity,
  type TaskEngineConfig,
  type TaskEvent,
  type TaskStreamEvent,
  type TaskPage,
  type TaskQuery,
  type TaskService,
  type TaskStore,
  type WatchOptions,
} from '@opspawn/plugin-sdk';
import { renderInstructions } from '../agents/agent-instructions.js';
import type { ConfigAgentRegistry, ResolvedAgent } from '../agents/agent-registry.js';
import { approvalExpired } from './agent-loop.js';
import { enqueueTask } from './enqueue-task.js';
import { StepLog } from './step-log.js';
import { inSpan, submitContext, traceLabels } from './task-tracing.js';
import { checkSubmitRequest, requestHash } from './submit-validation.js';
import { type TaskEvents, isFinalEvent } from './task-events.js';
import type { TaskTransitions } from './task-transitions.js';
import { SharedReads } from './shared-reads.js';
import { UnconfirmedSubmissions } from './unconfirmed-submissions.js';

export interface KernelTaskServiceDeps {
  store: TaskStore;
  broker: Broker;
  bus: EventBus;
  events: TaskEvents;
  transitions: TaskTransitions;
  /** By plugin id. */
  planners: ReadonlyMap<string, Planner>;
  /** By plugin id. */
  memories: ReadonlyMap<string, Memory>;
  defaultPlanner?: string;
  defaultMemory?: string;
  agents: ConfigAgentRegistry;
  settings: Required<TaskEngineConfig>;
  logger: Logger;
}

const REPLAY_PAGE = 500;

/** A checked submission: its task, and the request's hash when it has an idempotency key. */
interface PreparedTask {
  task: Task;
  hash: string | undefined;
}

/** An error's field problems (`details`), or one problem without a path when it names none. */
function detailsOf(error: OpspawnError): Array<{ path: string; message: string }> {
  const details = error.details as Array<{ path: string; message: string }> | undefined;
  return Array.isArray(details) && details.length > 0 ? details : [{ path: '', message: error.message }];
}
/**
 * A watcher that heard nothing for this long re-reads the store, in case an event was published in another process;
 * not when the store says nothing but this process wrote to it since the watcher's last read (`foreignWrites`).
 */
const WATCH_POLL_MS = 2000;

/**
 * The task API of every process, API-only ones included: submit, get, list, cancel, events and watch. It writes
 * new tasks and cancel requests to the store and hands new tasks to the broker; workers do the rest.
 */
export class KernelTaskService implements TaskService {
  private readonly unconfirmed: UnconfirmedSubmissions;
  /** The watchers' store reads: many streams opening on one task make one call (ADR 0024). */
  private readonly watchReads = new SharedReads();
  /**
   * Told of each running task asked to cancel in this process: a child run inline by its waiting parent has no
   * broker delivery for `broker.cancel` to abort, so the engine's handoffs abort it through this.
   */
  cancelRequested?: (id: string) => void;

  constructor(private readonly deps: KernelTaskServiceDeps) {
    this.unconfirmed = new UnconfirmedSubmissions(deps.store, deps.broker, deps.logger);
  }

  /** Stops asking the store about submissions whose write went unanswered. */
  stop(): void {
    this.unconfirmed.stop();
  }

  submit(request: SubmitTaskRequest): Promise<{ task: Task; created: boolean }> {
    return this.create(request);
  }

  /**
   * A handoff's child: submitted like any task (its agent's limits, an idempotency key), with `parentId`, which
   * callers cannot set. The engine's handoffs call it; nothing else does.
   */
  submitChild(request: SubmitTaskRequest, parentId: string): Promise<{ task: Task; created: boolean }> {
    return this.create(request, parentId);
  }

  private async create(request: SubmitTaskRequest, parentId?: string): Promise<{ task: Task; created: boolean }> {
    return this.accept(this.prepare(request, parentId));
  }

  /**
   * Every task is checked before any is written: a batch with one invalid task (or two tasks with one idempotency
   * key) is refused whole, its error naming each bad task by index. The tasks are then written and enqueued
   * together (the store's and the broker's per-turn batching make that one statement and one Redis write).
   */
  async submitBatch(requests: readonly SubmitTaskRequest[]): Promise<BatchItemResult[]> {
    const tasks = this.prepareBatch(requests);
    return Promise.all(
      tasks.map((prepared) =>
        this.accept(prepared).catch((error: unknown) => {
          // The one outcome decided per task: its key was used before with another request, as for a lone submit.
          if (isOpspawnError(error) && error.code === ErrorCodes.IDEMPOTENCY_CONFLICT)
            return { error: { code: error.code, message: error.message, hint: error.hint } };
          throw error;
        }),
      ),
    );
  }

  private prepareBatch(requests: readonly SubmitTaskRequest[]): PreparedTask[] {
    if (!Array.isArray(requests) || requests.length === 0 || requests.length > MAX_BATCH_TASKS)
      throw new OpspawnError(
        ErrorCodes.INVALID_REQUEST,
        `a batch holds 1 to ${MAX_BATCH_TASKS} tasks; this one has ${Array.isArray(requests) ? requests.length : 'none'}`,
        {
          hint: `send { tasks: [...] } with at most ${MAX_BATCH_TASKS} tasks; split a larger set into several batches`,
          details: [{ path: 'tasks', message: `must hold 1 to ${MAX_BATCH_TASKS} tasks` }],
        },
      );
    const prepared: PreparedTask[] = [];
    const refused: Array<{ index: number; error: OpspawnError }> = [];
    const keys = new Map<string, number>();
    requests.forEach((request, index) => {
      try {
        prepared.push(this.prepare(request));
        const key = request.idempotencyKey;
        if (key === undefined) return;
        const first = keys.get(key);
        if (first === undefined) keys.set(key, index);
        else
          throw new OpspawnError(ErrorCodes.TASK_INVALID, `tasks[${first}] has the same idempotency key`, {
            hint: 'give each task of a batch its own idempotency key',
            details: [{ path: 'idempotencyKey', message: `same key as tasks[${first}]` }],
          });
      } catch (error) {
        if (!isOpspawnError(error)) throw error;
        refused.push({ index, error });
      }
    });
    if (refused.length === 0) return prepared;
    const [first] = refused;
    const details = refused.flatMap(({ index, error }) =>
      detailsOf(error).map((d) => ({ path: `tasks[${index}]${d.path ? `.${d.path}` : ''}`, message: d.message })),
    );
    throw new OpspawnError(
      first!.error.code,
      `${refused.length} of the batch's ${requests.length} tasks ${refused.length === 1 ? 'is' : 'are'} invalid, nothing was submitted; tasks[${first!.index}]: ${first!.error.message}`,
      { hint: first!.error.hint, details },
    );
  }

  /** Checks a request and builds its task (no I/O): what a submission refuses, it refuses here. */
  private prepare(request: SubmitTaskRequest, parentId?: string): PreparedTask {
    checkSubmitRequest(request);
    const { settings, planners, memories } = this.deps;
    const agent = this.agentFor(request);
    const planner = request.planner ?? agent?.planner ?? this.deps.defaultPlanner;
    const memory = request.memory ?? agent?.memory ?? this.deps.defaultMemory;
    if (!planner || !planners.has(planner)) {
      throw new OpspawnError(
        ErrorCodes.PLANNER_UNKNOWN,
        planner ? `no planner '${planner}' in this deployment` : 'no planner given and the deployment has no default',
        {
          hint: `use one of: ${[...planners.keys()].join(', ') || '(none enabled)'}`,
          details: [{ path: 'planner', message: 'unknown planner' }],
        },
      );
    }
    if (!memory || !memories.has(memory)) {
      throw new OpspawnError(
        ErrorCodes.MEMORY_UNKNOWN,
        memory ? `no memory '${memory}' in this deployment` : 'no memory given and the deployment has no default',
        {
          hint: `use one of: ${[...memories.keys()].join(', ') || '(none enabled)'}`,
          details: [{ path: 'memory', message: 'unknown memory' }],
        },
      );
    }
    planners.get(planner)!.validateInput?.(request.input ?? null);
    if (agent?.instructions !== undefined)
      renderInstructions(agent.instructions, agent.id, { goal: request.goal, input: request.input ?? null });
    const limits = agent?.limits ?? {};
    const now = new Date().toISOString();
    const id = newTaskId();
    // Only an idempotency key needs the request's hash (to tell a replay from a conflicting reuse).
    const hash = request.idempotencyKey ? requestHash(request) : undefined;
    const task: Task = {
      id,
      goal: request.goal,
      input: request.input ?? null,
      planner,
      memory,
      ...(agent ? { agent: agent.id } : {}),
      ...(parentId ? { parentId } : {}),
      sessionId: request.sessionId ?? id,
      status: 'queued',
      attempts: 0,
      maxAttempts: request.maxAttempts ?? limits.maxAttempts ?? settings.defaultMaxAttempts,
      timeoutMs: request.timeoutMs ?? limits.timeoutMs ?? settings.defaultTimeoutMs,
      maxSteps: request.maxSteps ?? limits.maxSteps ?? settings.defaultMaxSteps,
      priority: request.priority ?? 0,
      labels: { ...request.labels },
      cancelRequested: false,
      createdAt: now,
      updatedAt: now,
      ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey, requestHash: hash! } : {}),
      ...(request.notBefore ? { notBefore: new Date(request.notBefore).toISOString() } : {}),
    };
    return { task, hash };
  }

  /**
   * Writes a checked task with its first event, and enqueues it; a replayed key returns the stored task. Every
   * submission is an `opspawn.submit` span: the root of the task's trace (or a child of the caller's), whose context
   * the task carries in its `opspawn.traceparent` label to the process that runs it.
   */
  private accept(prepared: PreparedTask): Promise<{ task: Task; created: boolean }> {
    return inSpan(
      'opspawn.submit',
      SpanKind.PRODUCER,
      (span) => this.acceptInSpan(prepared, span),
      submitContext(prepared.task.labels),
    );
  }

  private async acceptInSpan({ task, hash }: PreparedTask, span: Span): Promise<{ task: Task; created: boolean }> {
    if (span.isRecording()) {
      Object.assign(task.labels, traceLabels(span, task.labels));
      span.setAttributes({
        'opspawn.task.id': task.id,
        'opspawn.planner': task.planner,
        ...(task.agent ? { 'opspawn.agent': task.agent } : {}),
        ...(task.parentId ? { 'opspawn.task.parent_id': task.parentId } : {}),
      });
    }
    const result = await this.deps.events.create(task).catch((error: unknown) => {
      // The write may have landed with its answer lost: make sure a stored task gets enqueued once the store answers.
      if (isOpspawnError(error) && error.code === ErrorCodes.STORE_UNAVAILABLE) this.unconfirmed.remember(task.id);
      throw error;
    });
    if (!result.created) {
      span.setAttributes({ 'opspawn.task.id': result.task.id, 'opspawn.task.replayed': true });
      if (result.task.requestHash !== hash) {
        throw new OpspawnError(
          ErrorCodes.IDEMPOTENCY_CONFLICT,
          `idempotency key '${task.idempotencyKey}' was used for a different request (task ${result.task.id})`,
          {
            hint: 'use a new key for a new request',
            details: [{ path: 'idempotencyKey', message: 'already used with another request' }],
          },
        );
      }
      return result;
    }
    try {
      await enqueueTask(this.deps.broker, task);
    } catch (error) {
      // The task is in the store, so it is accepted: the workers' sweep enqueues it once the broker is back.
      this.deps.logger.warn(
        { taskId: task.id, err: describeError(error) },
        'the broker refused a new task; it stays queued in the store and the recovery sweep will enqueue it',
      );
    }
    return result;
  }

  /**
   * The agent a submission runs: the one it names, else the deployment's `defaultAgent`, else none (the task sees
   * every tool, as before agents existed). An agent decides the planner and memory: a request naming others is
   * refused rather than run with options meant for another planner.
   */
  private agentFor(request: SubmitTaskRequest): ResolvedAgent | undefined {
    const { agents } = this.deps;
    const id = request.agent ?? (agents.declared ? agents.defaultAgent : undefined);
    if (id === undefined) return undefined;
    const agent = agents.resolve(id);
    for (const field of ['planner', 'memory'] as const) {
      const asked = request[field];
      if (asked !== undefined && asked !== agent[field]) {
        throw new OpspawnError(
          ErrorCodes.TASK_INVALID,
          `the task runs agent '${agent.id}', whose ${field} is '${agent[field]}', but asks for ${field} '${asked}'`,
          {
            hint: `leave ${field} out (the agent decides it), or run an agent that uses ${field} '${asked}'`,
            details: [{ path: field, message: `agent '${agent.id}' uses ${field} '${agent[field]}'` }],
          },
        );
      }
    }
    return agent;
  }

  async get(id: string): Promise<Task> {
    const task = await this.deps.store.get(id);
    if (!task)
      throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task ${id}`, {
        hint: 'check the id; list tasks to find it',
      });
    return task;
  }

  async identity(id: string): Promise<TaskIdentity> {
    const { identities } = this.deps.events;
    return identities.get(id) ?? identities.remember(await this.get(id));
  }

  knownIdentity(id: string): TaskIdentity | undefined {
    return this.deps.events.identities.get(id);
  }

  list(query: TaskQuery = {}): Promise<TaskPage> {
    return this.deps.store.list(query);
  }

  /**
   * A queued task ends `cancelled` at once; a running one is asked to stop (`cancelRequested`) and its worker
   * aborts it. The task may move while we decide (a worker takes it, or it ends): then we read it again and decide
   * on its new status, so the answer always matches what happened, and a task that ended first is a 409.
   * Its unfinished children (handoffs) are cancelled too, and theirs, whatever they were doing.
   */
  async cancel(id: string): Promise<Task> {
    const task = await this.cancelOne(id);
    await this.cancelChildren(id);
    return task;
  }

  /** Cancels every unfinished child of `parentId`, transitively; one that ended meanwhile is left as it is. */
  async cancelChildren(parentId: string): Promise<void> {
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      const page = await this.deps.store.list({
        ...(cursor ? { cursor } : { parentId, status: ['queued', 'running', 'waiting_approval'] }),
        limit: REPLAY_PAGE,
      });
      for (const child of page.tasks) {
        await this.cancelOne(child.id).catch((error: unknown) => {
          if (!isOpspawnError(error) || error.code !== ErrorCodes.TASK_NOT_CANCELLABLE) throw error;
        });
        await this.cancelChildren(child.id);
      }
      cursor = page.nextCursor;
    }
  }

  private async cancelOne(id: string): Promise<Task> {
    for (;;) {
      const task = await this.get(id);
      if (isFinalStatus(task.status)) {
        throw new OpspawnError(ErrorCodes.TASK_NOT_CANCELLABLE, `task ${id} is already ${task.status}`, {
          hint: 'only queued, running or waiting tasks can be cancelled',
        });
      }
      if (task.status === 'queued' || task.status === 'waiting_approval') {
        const cancelled = await this.deps.transitions.cancel(id, task.status, task.attempts, { anyAttempt: true });
        if (cancelled) {
          // A broker may drop its waiting job (one due next year need not stay in memory until then).
          await this.deps.broker.cancel(id);
          return cancelled;
        }
      } else {
        const running = await this.deps.store.requestCancel(id);
        if (running) {
          await this.deps.broker.cancel(id);
          this.cancelRequested?.(id);
          return running;
        }
      }
    }
  }

  async decide(id: string, callId: string, decision: ApprovalDecision, by = 'anonymous'): Promise<Task> {
    const checked = checkDecision(decision);
    const task = await this.get(id);
    const log = await StepLog.read(id, (taskId, after, limit) => this.deps.store.events(taskId, after, limit));
    const step = log.steps.find((s) => s?.requested.has(callId));
    const asked = step?.requested.get(callId);
    if (!step || !asked)
      throw new OpspawnError(
        ErrorCodes.APPROVAL_NOT_FOUND,
        `task ${id} never asked for approval of a call '${callId}'`,
      );
    const notWaiting = (why: string) =>
      new OpspawnError(ErrorCodes.APPROVAL_NOT_WAITING, `the call '${callId}' of task ${id} does not wait: ${why}`);
    if (step.decided.has(callId)) throw notWaiting(`it was decided already (${step.decided.get(callId)!.decision})`);
    if (task.status !== 'waiting_approval') throw notWaiting(`the task is ${task.status}`);
    if (log.pending()?.step !== step.step) throw notWaiting('the task moved past its step');
    if (Date.parse(asked.expiresAt) <= Date.now()) {
      await this.deps.transitions.expire(task, {
        code: ErrorCodes.APPROVAL_EXPIRED,
        message: approvalExpired(asked.tool, callId, asked.expiresAt).message,
      });
      throw notWaiting(`its request expired at ${asked.expiresAt}`);
    }
    const queued = await this.deps.transitions.decide(task, {
      step: step.step,
      callId,
      decision: checked.decision,
      by,
      ...(checked.note !== undefined ? { note: checked.note } : {}),
      ...(checked.arguments !== undefined ? { arguments: checked.arguments } : {}),
    });
    if (!queued) {
      const now = await this.get(id);
      throw notWaiting(now.status === 'waiting_approval' ? 'another decision came first' : `the task is ${now.status}`);
    }
    await enqueueTask(this.deps.broker, queued);
    return queued;
  }

  async events(id: string, afterSeq = 0, limit = REPLAY_PAGE): Promise<TaskEvent[]> {
    await this.get(id);
    return this.deps.store.events(id, afterSeq, limit);
  }

  watch(id: string, options: WatchOptions = {}): AsyncIterable<TaskEvent> {
    return this.follow(id, options, false) as AsyncIterable<TaskEvent>;
  }

  watchLive(id: string, options: WatchOptions = {}): AsyncIterable<TaskStreamEvent> {
    return this.follow(id, options, true);
  }

  private async *follow(id: string, options: WatchOptions, withDeltas: boolean): AsyncIterable<TaskStreamEvent> {
    const { store, bus } = this.deps;
    const { signal } = options;
    let last = options.afterSeq ?? 0;
    const live: TaskStreamEvent[] = [];
    let wake: (() => void) | undefined;
    let poll: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const unsubscribe = bus.subscribe(id, (event) => {
      live.push(event);
      wake?.();
    });
    // A flag read per event: AbortSignal's `aborted` getter checks its receiver on each read (it showed in the
    // watchers bench's profile with 2,000 streams).
    let aborted = signal?.aborted ?? false;
    const onAbort = () => {
      aborted = true;
      wake?.();
    };
    signal?.addEventListener('abort', onAbort);
    try {
      // Replay what the store has after `last`, then follow live events; go back to the store whenever a gap
      // shows (an event published before we subscribed) or nothing arrived for a while (another process).
      let fromStore = true;
      // A task with stored events exists; only an empty first read needs the task itself (TASK_NOT_FOUND).
      let exists = false;
      // The store's mark of other writers' commits, taken before the last read (undefined: the store cannot tell).
      let readAtMark: number | undefined;
      while (!aborted) {
        if (fromStore) {
          readAtMark = store.foreignWrites?.();
          for (;;) {
            const after = last;
            // Joining a read in flight is safe only if nobody else committed since it started: the mark is in the key.
            const batch = await this.watchReads.read(`events ${id} ${after} ${readAtMark}`, () =>
              store.events(id, after, REPLAY_PAGE),
            );
            if (!exists && batch.length === 0) await this.watchReads.read(`task ${id}`, () => this.get(id));
            exists = true;
            for (const event of batch) {
              last = event.seq;
              yield event;
              if (isFinalEvent(event)) return;
            }
            if (batch.length < REPLAY_PAGE) break;
          }
          fromStore = false;
        }
        while (live.length > 0 && !aborted) {
          const event = live.shift()!;
          if (event.type === 'delta') {
            // A delta belongs right after the stored event it follows: once a later one was yielded it is stale;
            // one that follows an event not seen yet shows a gap (it is dropped, the store fills the gap).
            if (!withDeltas || event.afterSeq < last) continue;
            if (event.afterSeq > last) {
              fromStore = true;
              break;
            }
            yield event;
            continue;
          }
          if (event.seq <= last) continue;
          if (event.seq > last + 1) {
            live.unshift(event);
            fromStore = true;
            break;
          }
          last = event.seq;
          yield event;
          if (isFinalEvent(event)) return;
        }
        if (fromStore || aborted) continue;
        const polled = await new Promise<boolean>((resolve) => {
          wake = () => resolve(false);
          poll = () => resolve(true);
          // One timer for the whole watch, pushed back at each wait: a task's few waits make no timer each.
          if (timer) timer.refresh();
          else timer = setTimeout(() => poll?.(), WATCH_POLL_MS);
        });
        wake = undefined;
        poll = undefined;
        // Every event written in this process reached `live` through the bus: only another writer can have added
        // what the store would show.
        fromStore = polled && (readAtMark === undefined || store.foreignWrites!() !== readAtMark);
      }
    } finally {
      clearTimeout(timer);
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** A decision as callers send it, checked field by field (INVALID_REQUEST naming each bad field). */
function checkDecision(value: unknown): ApprovalDecision {
  const details: Array<{ path: string; message: string }> = [];
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  const body = (isObject ? value : {}) as Record<string, unknown>;
  if (!isObject) details.push({ path: '', message: 'must be an object { decision, note?, arguments? }' });
  else {
    if (body.decision !== 'approve' && body.decision !== 'reject')
      details.push({ path: 'decision', message: "must be 'approve' or 'reject'" });
    if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > 2000))
      details.push({ path: 'note', message: 'must be a string of at most 2000 characters' });
    if (body.arguments !== undefined && body.decision === 'reject')
      details.push({ path: 'arguments', message: 'may only come with approve' });
    for (const key of Object.keys(body))
      if (!['decision', 'note', 'arguments'].includes(key))
        details.push({ path: key, message: 'is not a known field' });
  }
  if (details.length)
    throw new OpspawnError(
      ErrorCodes.INVALID_REQUEST,
      `the decision is invalid: ${details.map((d) => `${d.path || '(body)'} ${d.message}`).join('; ')}`,
      { details, hint: "send { decision: 'approve' | 'reject', note?, arguments? }" },
    );
  return value as ApprovalDecision;
}
