import {
  ErrorCodes,
  OpspawnError,
  describeError,
  isOpspawnError,
  isRetryable,
  type Broker,
  type Delivery,
  type Logger,
  type Memory,
  type PlanAgent,
  type Planner,
  type Task,
  type TaskEngineConfig,
  type TaskError,
  type TaskStore,
  type ToolRegistry,
} from '@opspawn/plugin-sdk';
import { SpanKind, type Span } from '@opentelemetry/api';
import { hostname } from 'node:os';
import { renderInstructions } from '../agents/agent-instructions.js';
import type { ConfigAgentRegistry } from '../agents/agent-registry.js';
import { ScopedToolRegistry } from '../tools/kernel-tool-registry.js';
import type { ApprovalPolicies } from '../agents/approval-policy.js';
import { runAgentLoop } from './agent-loop.js';
import { StepLog } from './step-log.js';
import type { AttemptLeases } from './attempt-leases.js';
import type { Handoffs } from './handoffs.js';
import { delayUntil, enqueueTask } from './enqueue-task.js';
import type { DeltaStream } from './task-deltas.js';
import type { TaskEvents } from './task-events.js';
import type { TaskRecovery } from './task-recovery.js';
import { stalledError, type TaskTransitions } from './task-transitions.js';
import { UsageTally } from './token-usage.js';
import { inSpan, markFailed, taskContext } from './task-tracing.js';

export interface TaskWorkerDeps {
  store: TaskStore;
  broker: Broker;
  events: TaskEvents;
  transitions: TaskTransitions;
  /** Takes over the task of a redelivery whose worker stopped answering. */
  recovery: TaskRecovery;
  /** The leases of the attempts this worker runs. */
  leases: AttemptLeases;
  /** By plugin id. */
  planners: ReadonlyMap<string, Planner>;
  /** By plugin id. */
  memories: ReadonlyMap<string, Memory>;
  tools: ToolRegistry;
  /** The config's agents: a task that runs one sees only its tools. */
  agents: ConfigAgentRegistry;
  /** Agents called as tools: a task running an agent sees the others as `agents__<id>` (within its scope). */
  handoffs: Handoffs;
  settings: Required<TaskEngineConfig>;
  logger: Logger;
}

/** A delivery this early (clocks of two machines disagree) waits it out instead of going back to the queue. */
const EARLY_DELIVERY_TOLERANCE_MS = 5000;
/** Named in each `running` event, so a task's history says which process ran each attempt. */
const WORKER_ID = `${hostname()}:${process.pid}`;

/**
 * Runs what the broker delivers to this process, one attempt per delivery: starts the attempt, runs the agent
 * loop under the task's deadline and cancellation, and settles the attempt as succeeded, retried, failed,
 * cancelled or, when this worker shuts down, queued again.
 */
export class TaskWorker {
  constructor(private readonly deps: TaskWorkerDeps) {}

  /**
   * Handles one delivery. Resolves unless the infrastructure failed; what a task does never escapes. A first delivery
   * whose job carried the queued task, due now, starts it without reading it back: the start's compare-and-set
   * (queued, on that attempt) is the store's answer, and when it misses, the delivery reads the task and decides.
   */
  async run(delivery: Delivery): Promise<void> {
    const { store, broker, transitions } = this.deps;
    const carried = delivery.attempts !== undefined && !delivery.stalls && delivery.notBefore !== undefined;
    if (carried && delayUntil(delivery.notBefore ?? undefined) === 0) {
      if (await this.startAndRun({ id: delivery.taskId, attempts: delivery.attempts! }, delivery)) return;
    }
    const task = await store.get(delivery.taskId);
    if (task?.status === 'running' && delivery.stalls) return this.deps.recovery.takeOverStalled(task, delivery);
    if (task?.status !== 'queued') return; // finished, taken by another worker, or unknown
    const wait = delayUntil(task.notBefore);
    if (wait > EARLY_DELIVERY_TOLERANCE_MS) {
      // Without `attempts`: the job carrying (task, attempts) is this very delivery, still held.
      await broker.enqueue(task.id, { priority: task.priority, delayMs: wait });
      return;
    }
    if (wait > 0) {
      await abortableSleep(wait, delivery.signal);
      // Shut down while waiting: the task never started. A durable broker gets the delivery back as failed and
      // redelivers it; an in-process one re-queues the task at the next start.
      if (delivery.signal.aborted) {
        if (broker.recoversOnStart) return;
        throw new OpspawnError(ErrorCodes.TASK_STALLED, `task ${task.id} was not due yet when this worker shut down`, {
          hint: 'nothing to do: the broker delivers it again when it is due',
        });
      }
    }
    if (task.cancelRequested) {
      await transitions.cancel(task.id, 'queued', task.attempts);
      return;
    }
    await this.startAndRun(task, delivery, queuedAt(task));
  }

  /**
   * Runs a queued task in the slot of the caller, a parent waiting for this child (ADR 0011): the attempt starts
   * with this worker's id and lease like any other, and `signal` stands for the delivery (aborted when the child
   * is cancelled, or the parent stops). Returns false when another worker started the task first.
   */
  async runInline(task: Task, signal: AbortSignal): Promise<boolean> {
    if (task.cancelRequested) {
      await this.deps.transitions.cancel(task.id, 'queued', task.attempts);
      return true;
    }
    return this.startAndRun(task, { taskId: task.id, signal }, queuedAt(task));
  }

  /**
   * Starts the attempt after `queued.attempts` (a compare-and-set) and runs it; false when the task was not queued
   * on that attempt. The started row, not the caller's copy, says whether a cancel came meanwhile. `queuedSince` is
   * known when the caller read the queued task; a first attempt started from its job alone has it from the row.
   */
  private async startAndRun(
    queued: Pick<Task, 'id' | 'attempts'>,
    delivery: Delivery,
    queuedSince?: number,
  ): Promise<boolean> {
    const deltas = this.deps.events.openDeltas(queued.id);
    try {
      const running = await this.deps.transitions.start(queued, WORKER_ID, this.deps.leases.expiry());
      if (!running) return false;
      this.deps.leases.hold(running.id);
      try {
        if (running.cancelRequested) await this.deps.transitions.cancel(running.id, 'running', running.attempts);
        else await this.runAttempt(running, delivery, deltas, queuedSince ?? firstQueuedAt(running));
      } finally {
        this.deps.leases.release(running.id);
      }
      return true;
    } finally {
      deltas.close();
    }
  }

  /**
   * Runs the attempt `task` has just started, and settles it, in an `opspawn.attempt` span continuing the trace of
   * the task's submission (its label), in whichever process the broker delivered it to.
   */
  private runAttempt(task: Task, delivery: Delivery, deltas: DeltaStream, queuedSince?: number): Promise<void> {
    return inSpan(
      'opspawn.attempt',
      SpanKind.CONSUMER,
      (span) => {
        if (span.isRecording())
          span.setAttributes({
            'opspawn.task.id': task.id,
            'opspawn.task.attempt': task.attempts,
            'opspawn.planner': task.planner,
            ...(task.agent ? { 'opspawn.agent': task.agent } : {}),
            'opspawn.worker': WORKER_ID,
            ...(queuedSince !== undefined ? { 'opspawn.queue.wait_ms': Math.max(0, Date.now() - queuedSince) } : {}),
          });
        return this.runTracedAttempt(task, delivery, deltas, span);
      },
      taskContext(task),
    );
  }

  private async runTracedAttempt(task: Task, delivery: Delivery, deltas: DeltaStream, span: Span): Promise<void> {
    const attempt = task.attempts;
    const controller = new AbortController();
    // Built only when the deadline passes: an Error captures a stack, which the hot path should not pay for.
    const timer = setTimeout(
      () =>
        controller.abort(
          new OpspawnError(ErrorCodes.TASK_TIMEOUT, `attempt ${attempt} did not finish within ${task.timeoutMs} ms`, {
            hint: 'raise timeoutMs for the task',
          }),
        ),
      task.timeoutMs,
    );
    const forward = () => controller.abort(delivery.signal.reason);
    delivery.signal.addEventListener('abort', forward, { once: true });
    const usage = new UsageTally(task.usage);
    let log: StepLog | undefined;
    try {
      const planner = this.deps.planners.get(task.planner);
      const memory = this.deps.memories.get(task.memory);
      if (!planner)
        throw new OpspawnError(
          ErrorCodes.PLANNER_UNKNOWN,
          `planner '${task.planner}' is not in this deployment any more`,
        );
      if (!memory)
        throw new OpspawnError(ErrorCodes.MEMORY_UNKNOWN, `memory '${task.memory}' is not in this deployment any more`);
      // Every run of a task starts an attempt (`start` counts it), so attempt 1 is the first run ever: nothing
      // can be in its log yet but `queued` and `running`, and the read is skipped on the path every task takes.
      log =
        task.attempts === 1
          ? new StepLog()
          : await StepLog.read(task.id, (id, after, limit) => this.deps.store.events(id, after, limit));
      const outcome = await runAgentLoop(task, controller.signal, {
        planner,
        memory,
        events: this.deps.events,
        log,
        deltas,
        usage,
        ...this.agentOf(task),
      });
      span.setAttribute('opspawn.attempt.outcome', outcome.kind);
      if (outcome.kind === 'final')
        await this.deps.transitions.succeed(task.id, attempt, outcome.output, usage.change(), outcome.event);
      else await this.settleWaiting(task, attempt, usage);
    } catch (error) {
      const reason = controller.signal.aborted ? controller.signal.reason : error;
      markFailed(span, reason);
      if (delivery.signal.aborted) await this.settleInterrupted(task, attempt, usage);
      else await this.settleFailure(task, attempt, reason, usage, log?.decisions ?? 0);
    } finally {
      clearTimeout(timer);
      delivery.signal.removeEventListener('abort', forward);
    }
  }

  /** The task's agent, as its planner sees it, and the tools it may use: all of them when it runs no agent. */
  private agentOf(task: Task): { tools: ToolRegistry; agent?: PlanAgent; approvals?: ApprovalPolicies } {
    if (!task.agent) return { tools: this.deps.tools };
    const agent = this.deps.agents.resolve(task.agent);
    return {
      approvals: agent.approvals,
      tools: new ScopedToolRegistry(this.deps.handoffs.toolsFor(task, this.deps.tools), agent),
      agent: {
        id: agent.id,
        options: agent.options,
        ...(agent.instructions !== undefined
          ? { instructions: renderInstructions(agent.instructions, agent.id, task) }
          : {}),
      },
    };
  }

  /** The delivery was aborted: the task was cancelled, or this worker is shutting down. */
  private async settleInterrupted(task: Task, attempt: number, usage: UsageTally): Promise<void> {
    const { store, broker, transitions } = this.deps;
    const current = await store.get(task.id);
    if (current?.cancelRequested) {
      await transitions.cancel(task.id, 'running', attempt, { usage: usage.change() });
      return;
    }
    // The worker is shutting down: the task goes back to the queue (the attempt stays counted). An in-process
    // broker re-queues it at the next start; a durable one takes it now, for another worker.
    const back = await transitions.stall(
      task.id,
      attempt,
      stalledError('the worker stopped while this attempt ran'),
      undefined,
      usage.change(),
    );
    if (back && !broker.recoversOnStart) await enqueueTask(broker, back);
  }

  /**
   * The attempt stopped before a call that needs approval: the task waits, holding no worker and no lease. A cancel
   * requested while the attempt ended is honoured here, since no delivery is left to abort.
   */
  private async settleWaiting(task: Task, attempt: number, usage: UsageTally): Promise<void> {
    const waiting = await this.deps.transitions.wait(task.id, attempt, usage.change());
    if (waiting?.cancelRequested) await this.deps.transitions.cancel(task.id, 'waiting_approval', attempt);
  }

  /**
   * The attempt failed: retried after a backoff while attempts are left and the error is not permanent. Attempts
   * that ended waiting for approval (`decisions`: each decision started one more) do not use up the budget.
   */
  private async settleFailure(
    task: Task,
    attempt: number,
    error: unknown,
    usage: UsageTally,
    decisions: number,
  ): Promise<void> {
    const { broker, transitions, settings } = this.deps;
    const taskError: TaskError = isOpspawnError(error)
      ? { code: error.code, message: error.message }
      : { code: ErrorCodes.TASK_INTERNAL, message: describeError(error) };
    // An error says whether another attempt can fix it (a plugin's own copy of the SDK may predate the flag).
    const retryable = isOpspawnError(error) ? (error.retryable ?? isRetryable(error.code)) : true;
    if (attempt < task.maxAttempts + decisions && retryable) {
      const delayMs = backoff(attempt, settings.retryBackoffMs, settings.maxRetryBackoffMs);
      const back = await transitions.retry(task.id, attempt, taskError, delayMs, usage.change());
      if (!back) return;
      await broker.enqueue(task.id, { priority: task.priority, delayMs, attempts: attempt });
      return;
    }
    await transitions.fail(task.id, attempt, taskError, usage.change());
    this.deps.logger.debug({ taskId: task.id, code: taskError.code }, 'task failed');
  }
}

/** A first attempt was queued from its creation (or its notBefore); a later one's queue time is not in the row. */
function firstQueuedAt(task: Task): number | undefined {
  return task.attempts === 1 ? queuedAt({ ...task, updatedAt: task.createdAt }) : undefined;
}

/** When `task` (as delivered, still queued) entered the queue: its last status change, or its due time if later. */
function queuedAt(task: Pick<Task, 'updatedAt' | 'notBefore'>): number {
  const since = Date.parse(task.updatedAt);
  return task.notBefore ? Math.max(since, Date.parse(task.notBefore)) : since;
}

/** Exponential backoff with ±20% jitter, capped. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.round(raw * (0.8 + Math.random() * 0.4));
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
