import { createHash } from 'node:crypto';
import {
  ErrorCodes,
  isFinalStatus,
  isOpspawnError,
  type EventBus,
  type Logger,
  type RegisteredTool,
  type Task,
  type TaskEngineConfig,
  type TaskStore,
  type ToolCallContext,
  type ToolObservation,
  type ToolRegistry,
} from '@opspawn/plugin-sdk';
import type { ConfigAgentRegistry } from '../agents/agent-registry.js';
import { AGENT_TOOL_PREFIX, agentToolName } from '../agents/tool-scope.js';
import { delayUntil } from './enqueue-task.js';
import { canonicalJson } from './submit-validation.js';
import type { TaskEvents } from './task-events.js';
import type { KernelTaskService } from './task-service.js';

export interface HandoffsDeps {
  store: TaskStore;
  bus: EventBus;
  events: TaskEvents;
  service: KernelTaskService;
  agents: ConfigAgentRegistry;
  settings: Required<TaskEngineConfig>;
  logger: Logger;
  /**
   * Runs a queued task in the calling worker's slot (`TaskWorker.runInline`); false when another worker took it
   * first. A parent waiting for its child runs the child this way, so waiting never needs a second slot.
   */
  runInline(task: Task, signal: AbortSignal): Promise<boolean>;
}

/** The label every child carries: the task that handed off to it. */
export const PARENT_LABEL = 'opspawn.parent';
/** How often a waiting parent looks at its child in the store when no event says it changed. */
const CHILD_POLL_MS = 1000;

const fail = (code: string, message: string): ToolObservation => ({ ok: false, error: { code, message } });

/**
 * Agents called as tools. A call of `agents__<id>` submits a child task running that agent (`parentId` the caller),
 * then waits for it and returns its output, or a HANDOFF_FAILED error carrying the child's. The child is keyed by
 * the parent, the step and what was asked, so an attempt that runs again (a retry, a recovery) finds the child the
 * earlier attempt started instead of starting another. A queued child is run by the waiting parent's own worker,
 * so a worker whose every slot holds a waiting parent still makes progress (ADR 0011).
 */
export class Handoffs {
  /** Per parent: the handoff submissions in flight, one at a time, so the fan-out count cannot race. */
  private readonly submitting = new Map<string, Promise<unknown>>();
  /** The children this process runs inline, by id: what a cancel request made here aborts at once. */
  private readonly inline = new Map<string, AbortController>();

  constructor(private readonly deps: HandoffsDeps) {}

  /** A cancel request made in this process for a child running inline here: abort it now (see `watchCancel`). */
  cancelRequested(id: string): void {
    this.inline.get(id)?.abort(new Error(`task ${id} was cancelled`));
  }

  /** The tools `parent` sees: the registry's, and each agent as `agents__<id>` (its scope filters them later). */
  toolsFor(parent: Task, registry: ToolRegistry): ToolRegistry {
    return new HandoffToolRegistry(registry, this, parent);
  }

  /** The agents as tool specs. */
  specs(): RegisteredTool[] {
    return this.deps.agents.list().map((agent) => ({
      name: agentToolName(agent.id),
      description:
        agent.description ?? `Hands a goal to agent '${agent.id}' and returns its answer (runs as a child task).`,
      inputSchema: {
        type: 'object',
        properties: {
          goal: { type: 'string', minLength: 1, maxLength: 10_000, description: 'What the agent should achieve' },
          input: { description: 'Free-form JSON for the agent' },
        },
        required: ['goal'],
        additionalProperties: false,
      },
      provider: 'kernel:agents',
    }));
  }

  /** One handoff: start (or find) the child, say so on the parent, and wait for the child's outcome. */
  async call(
    parent: Task,
    agentId: string,
    args: unknown,
    ctx: Omit<ToolCallContext, 'deadline'>,
  ): Promise<ToolObservation> {
    const asked = handoffArguments(args);
    if (typeof asked === 'string')
      return fail(ErrorCodes.TOOL_INVALID_ARGUMENTS, `arguments for '${agentToolName(agentId)}' ${asked}`);
    const { settings } = this.deps;
    const depth = await this.depthOf(parent);
    if (depth >= settings.maxHandoffDepth)
      return fail(
        ErrorCodes.HANDOFF_DEPTH_EXCEEDED,
        `task ${parent.id} is ${depth} handoff(s) below its top-level task and may not hand off to agent '${agentId}' (tasks.maxHandoffDepth is ${settings.maxHandoffDepth})`,
      );
    const key = handoffKey(parent.id, ctx.step ?? 0, agentId, asked);
    let submitted: { task: Task; created: boolean } | ToolObservation;
    try {
      submitted = await this.oneAtATime(parent.id, () => this.submit(parent, agentId, asked, key));
    } catch (error) {
      const code = isOpspawnError(error) ? error.code : ErrorCodes.HANDOFF_FAILED;
      return fail(code, `handing off to agent '${agentId}' failed: ${(error as Error).message}`);
    }
    if ('ok' in submitted) return submitted;
    const child = submitted.task;
    await this.deps.events.emit(parent.id, 'handoff', {
      step: ctx.step ?? 0,
      callId: ctx.callId ?? '',
      childId: child.id,
      agent: agentId,
      created: submitted.created,
    });
    return this.outcome(parent, child.id, agentId, ctx.signal);
  }

  /** Submits the child unless the parent has used up its fan-out (a child found again does not count twice). */
  private async submit(
    parent: Task,
    agentId: string,
    asked: { goal: string; input?: unknown },
    key: string,
  ): Promise<{ task: Task; created: boolean } | ToolObservation> {
    const { store, settings, service } = this.deps;
    const children = await store.list({ parentId: parent.id, limit: settings.maxChildren + 1 });
    const known = children.tasks.find((t) => t.idempotencyKey === key);
    if (!known && children.tasks.length >= settings.maxChildren)
      return fail(
        ErrorCodes.HANDOFF_FAN_OUT_EXCEEDED,
        `task ${parent.id} has started ${children.tasks.length} child task(s) and may not start another for agent '${agentId}' (tasks.maxChildren is ${settings.maxChildren})`,
      );
    return service.submitChild(
      {
        goal: asked.goal,
        ...(asked.input !== undefined ? { input: asked.input } : {}),
        agent: agentId,
        labels: { [PARENT_LABEL]: parent.id },
        priority: parent.priority,
        idempotencyKey: key,
      },
      parent.id,
    );
  }

  /**
   * Waits for the child to end, running it here whenever it is queued and due. When the parent stops, a cancel or
   * a timeout cancels the child (and its children); a worker shutting down leaves it to be recovered with the parent.
   */
  private async outcome(parent: Task, childId: string, agentId: string, signal: AbortSignal): Promise<ToolObservation> {
    let inline: AbortController | undefined;
    let stopping: Promise<void> | undefined;
    const onAbort = () => {
      stopping = this.stopChild(parent.id, childId, signal.reason)
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error, taskId: parent.id, childId }, 'cancelling a child task failed'),
        )
        .finally(() => inline?.abort(signal.reason));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const child = await this.deps.store.get(childId);
        if (!child) return fail(ErrorCodes.HANDOFF_FAILED, `child task ${childId} of agent '${agentId}' is gone`);
        if (isFinalStatus(child.status)) return result(child, agentId);
        if (signal.aborted) {
          await stopping;
          return fail(ErrorCodes.TASK_CANCELLED, `the handoff to agent '${agentId}' stopped with its parent task`);
        }
        const wait = delayUntil(child.notBefore);
        if (child.status === 'queued' && wait === 0) {
          inline = new AbortController();
          // The parent may have stopped since the check above: `onAbort` aborts `inline` only once it is set.
          if (signal.aborted) continue;
          const stopWatching = this.watchCancel(childId, inline);
          this.inline.set(childId, inline);
          try {
            await this.deps.runInline(child, inline.signal);
          } finally {
            stopWatching();
            this.inline.delete(childId);
            inline = undefined;
          }
          continue;
        }
        await this.nextChange(
          childId,
          child.status === 'queued' ? Math.min(wait, CHILD_POLL_MS) : CHILD_POLL_MS,
          signal,
        );
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The parent stopped: on a cancel or a timeout its child is cancelled; on a shutdown it is left to recovery. */
  private async stopChild(parentId: string, childId: string, reason: unknown): Promise<void> {
    const timedOut = isOpspawnError(reason) && reason.code === ErrorCodes.TASK_TIMEOUT;
    const cancelled = timedOut || (await this.deps.store.get(parentId))?.cancelRequested === true;
    if (!cancelled) return;
    await this.deps.service.cancel(childId).catch((error: unknown) => {
      if (!isOpspawnError(error) || error.code !== ErrorCodes.TASK_NOT_CANCELLABLE) throw error;
    });
  }

  /**
   * While a child runs inline, its cancel request reaches no broker delivery: a request made in this process aborts
   * it at once (`cancelRequested`), one made in another process is found here in the store within a second.
   */
  private watchCancel(childId: string, inline: AbortController): () => void {
    const timer = setInterval(() => {
      void this.deps.store.get(childId).then(
        (child) => {
          if (child?.cancelRequested) inline.abort(new Error(`task ${childId} was cancelled`));
        },
        () => undefined,
      );
    }, CHILD_POLL_MS);
    return () => clearInterval(timer);
  }

  /** Resolves on the child's next event (from any process, through the event bus), after `ms`, or on abort. */
  private nextChange(childId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      const unsubscribe = this.deps.bus.subscribe(childId, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** How many handoffs `task` is below its top-level task. */
  private async depthOf(task: Task): Promise<number> {
    let depth = 0;
    for (let at = task; at.parentId && depth <= this.deps.settings.maxHandoffDepth; depth++) {
      const up = await this.deps.store.get(at.parentId);
      if (!up) return depth + 1;
      at = up;
    }
    return depth;
  }

  private oneAtATime<T>(parentId: string, run: () => Promise<T>): Promise<T> {
    const before = this.submitting.get(parentId) ?? Promise.resolve();
    const mine = before.then(run, run);
    const tail = mine.catch(() => undefined);
    this.submitting.set(parentId, tail);
    void tail.then(() => {
      if (this.submitting.get(parentId) === tail) this.submitting.delete(parentId);
    });
    return mine;
  }
}

/**
 * A parent task's tools: its registry's, and the agents as `agents__<id>`. Agent tools skip the registry's tool
 * deadline: a child task has its own timeout, and the parent's deadline or cancel stops it.
 */
class HandoffToolRegistry implements ToolRegistry {
  constructor(
    private readonly registry: ToolRegistry,
    private readonly handoffs: Handoffs,
    private readonly parent: Task,
  ) {}

  async list(): Promise<RegisteredTool[]> {
    return [...(await this.registry.list()), ...this.handoffs.specs()];
  }

  call(
    name: string,
    args: unknown,
    ctx: Omit<ToolCallContext, 'deadline'> & { deadline?: number },
  ): Promise<ToolObservation> {
    if (!name.startsWith(AGENT_TOOL_PREFIX)) return this.registry.call(name, args, ctx);
    const agentId = name.slice(AGENT_TOOL_PREFIX.length);
    if (!this.handoffs.specs().some((s) => s.name === name))
      return Promise.resolve(
        fail(ErrorCodes.TOOL_NOT_FOUND, `no agent '${agentId}' to hand off to (no tool '${name}')`),
      );
    return this.handoffs.call(this.parent, agentId, args, ctx);
  }
}

/** `{ goal, input? }`, or what is wrong with the arguments. */
function handoffArguments(args: unknown): { goal: string; input?: unknown } | string {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return 'must be an object { goal, input? }';
  const { goal, input, ...rest } = args as Record<string, unknown>;
  if (typeof goal !== 'string' || goal.length === 0 || goal.length > 10_000)
    return 'do not match its schema: goal must be a string of 1 to 10000 characters';
  const extra = Object.keys(rest);
  if (extra.length) return `do not match its schema: unknown field(s) ${extra.join(', ')}`;
  return input === undefined ? { goal } : { goal, input };
}

/**
 * The child's idempotency key: the parent, the step, the agent and what was asked, not the planner's call id (an
 * LLM names its calls anew each attempt). The same question in the same step of another attempt is the same child.
 */
export function handoffKey(parentId: string, step: number, agentId: string, asked: { goal: string; input?: unknown }) {
  const hash = createHash('sha256')
    .update(canonicalJson([agentId, asked.goal, asked.input ?? null]))
    .digest('hex')
    .slice(0, 32);
  return `handoff:${parentId}:${step}:${hash}`;
}

function result(child: Task, agentId: string): ToolObservation {
  if (child.status === 'succeeded') return { ok: true, output: child.output ?? null };
  const why = child.error ? `${child.error.code}: ${child.error.message}` : 'no error recorded';
  return fail(ErrorCodes.HANDOFF_FAILED, `agent '${agentId}' (child task ${child.id}) ${child.status}: ${why}`);
}
