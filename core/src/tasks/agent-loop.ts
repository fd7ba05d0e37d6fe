import {
  ErrorCodes,
  OpspawnError,
  describeError,
  isOpspawnError,
  type ChatMessage,
  type Memory,
  type PlanAgent,
  type PlanDelta,
  type PlanDecision,
  type Planner,
  type StepRecord,
  type Task,
  type TaskEventData,
  type NewTaskEvent,
  type ToolCall,
  type ToolObservation,
  type ToolRegistry,
} from '@opspawn/plugin-sdk';
import { SpanKind, type Span } from '@opentelemetry/api';
import type { ApprovalPolicies } from '../agents/approval-policy.js';
import { stepMessages, stepRecord, stepsInMemory, type LoggedStep, type StepLog } from './step-log.js';
import type { DeltaStream } from './task-deltas.js';
import type { TaskEvents } from './task-events.js';
import { failSpan, inSpan } from './task-tracing.js';
import type { UsageTally } from './token-usage.js';

export interface AgentLoopDeps {
  planner: Planner;
  memory: Memory;
  tools: ToolRegistry;
  events: TaskEvents;
  /** The task's checkpoint: what earlier attempts completed (`StepLog.read`). */
  log: StepLog;
  /** Which calls wait for a person's approval; none when absent. */
  approvals?: ApprovalPolicies;
  /** Where the planner's fragments go while it generates a decision (watchers see them live). */
  deltas?: DeltaStream;
  /** The agent the task runs, handed to the planner; `tools` is then already its scoped view. */
  agent?: PlanAgent;
  /** Adds up the tokens each decision reports. */
  usage?: UsageTally;
}

/**
 * How an attempt ends when it does not throw: with the task's answer, or waiting for a decision on a call. A new
 * answer comes with its `final` event, which the move to `succeeded` stores (one write for both).
 */
export type LoopOutcome =
  | { kind: 'final'; output: unknown; event?: TaskEventData<'final'> }
  | { kind: 'waiting'; callId: string };

/**
 * One attempt of a task: the planner decides, tools run, results go into memory, until a final answer or
 * max steps. It continues after the last step the log records as completed (a step's decision and every one of
 * its results are stored), reusing a stored decision and stored results, so only a call started without a stored
 * result runs again, marked `repeat`. A call the agent's approval policy holds ends the attempt `waiting` (the
 * request is an `approval_requested` event) until someone decides. Aborting `signal` (timeout, cancellation,
 * shutdown) stops it between and inside steps: the signal reaches the planner and every tool call.
 */
export async function runAgentLoop(task: Task, signal: AbortSignal, deps: AgentLoopDeps): Promise<LoopOutcome> {
  const { planner, memory, tools, agent, deltas, log } = deps;
  if (log.final) return { kind: 'final', output: log.final.output };
  const history: StepRecord[] = log.completed().map(stepRecord);
  await restoreMemory(task, memory, history);
  const pending = log.pending();
  const registered = await tools.list();
  const toolSpecs = registered.map(({ provider: _p, ...spec }) => spec);
  const callDeps = { ...deps, providers: new Map(registered.map((t) => [t.name, t.provider])) };
  /** One step, in an `opspawn.step` span: the attempt's outcome when the step ends it, else nothing. */
  const runStep = async (step: number, span: Span): Promise<LoopOutcome | undefined> => {
    span.setAttribute('opspawn.step', step);
    let decision: PlanDecision;
    // A new decision is the step's checkpoint: an attempt that runs again takes it instead of planning anew. It is
    // stored with the `tool_call`s of the calls about to start (runCalls).
    let plan: TaskEventData<'plan'> | undefined;
    if (pending && pending.step === step) {
      decision = {
        kind: 'tools',
        calls: pending.calls,
        ...(pending.thought !== undefined ? { thought: pending.thought } : {}),
      };
    } else {
      const messages = await memory.load(task.sessionId);
      // Fragments count only while this step's decision is being made; a planner calling back later is ignored.
      let planning = true;
      const onDelta =
        deltas &&
        ((delta: PlanDelta) => {
          if (planning) deltas.push(step, delta);
        });
      try {
        // The span ends with the error the attempt ends with: the planner's own code, else PLANNER_FAILED.
        decision = await inSpan('opspawn.llm', SpanKind.CLIENT, async (llm) => {
          let decided: PlanDecision;
          try {
            decided = await planner.plan({
              task,
              ...(agent ? { agent } : {}),
              messages,
              tools: toolSpecs,
              step,
              history,
              signal,
              ...(onDelta ? { onDelta } : {}),
            });
          } catch (error) {
            signal.throwIfAborted();
            throw isOpspawnError(error)
              ? error
              : new OpspawnError(
                  ErrorCodes.PLANNER_FAILED,
                  `planner '${task.planner}' failed: ${describeError(error)}`,
                  {
                    cause: error,
                  },
                );
          }
          signal.throwIfAborted();
          checkDecision(decided, task.planner);
          if (llm.isRecording()) describeDecision(llm, task.planner, decided);
          return decided;
        });
      } finally {
        planning = false;
        deltas?.flush();
      }
      const model = decision.model !== undefined ? { model: decision.model } : {};
      if (decision.usage) deps.usage?.add(decision.usage);
      const usage = decision.usage ? { usage: decision.usage } : {};
      if (decision.kind === 'final') {
        await memory.append(task.sessionId, [
          {
            role: 'assistant',
            content: typeof decision.output === 'string' ? decision.output : (JSON.stringify(decision.output) ?? ''),
          },
        ]);
        const output = decision.output ?? null;
        return { kind: 'final', output, event: { output, step, ...usage, ...model } };
      }
      plan = { step, thought: decision.thought, calls: decision.calls, ...usage, ...model };
    }
    const logged = pending && pending.step === step ? pending : undefined;
    const ran = await runCalls(task, step, decision.calls, logged, plan, signal, callDeps);
    if ('waiting' in ran) return { kind: 'waiting', callId: ran.waiting };
    const record: StepRecord = {
      step,
      ...(decision.thought !== undefined ? { thought: decision.thought } : {}),
      calls: ran.results,
    };
    // One append per step, after its results are stored: what memory holds then says which steps it has.
    await memory.append(task.sessionId, stepMessages(record));
    history.push(record);
    return undefined;
  };
  for (let step = history.length + 1; step <= task.maxSteps; step++) {
    signal.throwIfAborted();
    const outcome = await inSpan('opspawn.step', SpanKind.INTERNAL, (span) => runStep(step, span));
    if (outcome) return outcome;
  }
  throw new OpspawnError(ErrorCodes.TASK_MAX_STEPS, `the task used all ${task.maxSteps} steps without a final answer`, {
    hint: 'raise maxSteps, or check why the planner does not finish',
  });
}

/**
 * Gives the session's memory what earlier attempts completed but did not remember: the goal, once, and the
 * messages of each completed step it lacks (an attempt that died between storing a step's last result and the
 * memory append).
 */
async function restoreMemory(task: Task, memory: Memory, done: readonly StepRecord[]): Promise<void> {
  const goal: ChatMessage = { role: 'user', content: task.goal };
  // The first attempt has nothing to find (an earlier task of the session may have ended on the same goal).
  const remembered = task.attempts <= 1 ? -1 : stepsInMemory(await memory.load(task.sessionId), goal, done);
  const missing: ChatMessage[] = remembered < 0 ? [goal] : [];
  for (const record of done.slice(Math.max(remembered, 0))) missing.push(...stepMessages(record));
  if (missing.length) await memory.append(task.sessionId, missing);
}

/**
 * Runs a step's calls, in parallel, except those with a stored result (reused) and those the approval policy holds.
 * Decided calls run with the approved arguments, or end as rejected. The step's new `plan`, when it has one, and the
 * `tool_call` of every call about to run are stored first, in one append. The first held call without a decision is
 * asked about once every other call of the step has run: `{ waiting: callId }`.
 */
async function runCalls(
  task: Task,
  step: number,
  calls: readonly ToolCall[],
  logged: LoggedStep | undefined,
  plan: TaskEventData<'plan'> | undefined,
  signal: AbortSignal,
  deps: AgentLoopDeps & { providers: ReadonlyMap<string, string> },
): Promise<{ results: StepRecord['calls'] } | { waiting: string }> {
  const { events, tools } = deps;
  const undecided = calls.filter(
    (call) =>
      !logged?.results.has(call.id) &&
      !logged?.decided.has(call.id) &&
      deps.approvals?.required(call.tool, call.arguments) !== undefined,
  );
  const runnable = calls.filter((call) => !undecided.includes(call));
  const argumentsOf = (call: ToolCall): unknown => {
    const decided = logged?.decided.get(call.id);
    return decided && decided.arguments !== undefined ? decided.arguments : call.arguments;
  };
  const starting: NewTaskEvent[] = runnable
    .filter((call) => !logged?.results.has(call.id) && logged?.decided.get(call.id)?.decision !== 'reject')
    .map((call) => ({ type: 'tool_call', data: { step, id: call.id, tool: call.tool, arguments: argumentsOf(call) } }));
  if (plan) starting.unshift({ type: 'plan', data: plan });
  if (starting.length) await events.emitAll(task.id, starting);
  const results = await Promise.all(
    runnable.map(async (call) => {
      const stored = logged?.results.get(call.id);
      if (stored) return { call, observation: stored };
      const decided = logged?.decided.get(call.id);
      if (decided?.decision === 'reject') {
        const observation: ToolObservation = {
          ok: false,
          error: {
            code: ErrorCodes.TOOL_CALL_REJECTED,
            message: `${decided.by} rejected the call of '${call.tool}'${decided.note ? `: ${decided.note}` : ''}`,
          },
        };
        await events.emit(task.id, 'tool_result', {
          step,
          id: call.id,
          tool: call.tool,
          ...observation,
          durationMs: 0,
        });
        return { call, observation };
      }
      const args = argumentsOf(call);
      const repeat = logged?.started.has(call.id) === true;
      const started = performance.now();
      const observation = await inSpan('opspawn.tool', SpanKind.INTERNAL, async (span) => {
        const observed = await tools.call(call.tool, args, {
          signal,
          taskId: task.id,
          step,
          callId: call.id,
          idempotencyKey: `${task.id}:${step}:${call.id}`,
          ...(repeat ? { repeat } : {}),
          log: (level, message, data) =>
            void events
              .emit(task.id, 'log', { level, message, source: call.tool, ...(data ? { data } : {}) })
              .catch(() => undefined),
        });
        if (span.isRecording()) describeToolCall(span, call, deps.providers.get(call.tool), observed);
        return observed;
      });
      // A call cut short by the attempt's end (a shutdown, a timeout, a cancel) has no result to store: a later
      // attempt runs it again, marked `repeat`.
      signal.throwIfAborted();
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      await events.emit(
        task.id,
        'tool_result',
        observation.ok
          ? { step, id: call.id, tool: call.tool, ok: true, output: observation.output, durationMs }
          : { step, id: call.id, tool: call.tool, ok: false, error: observation.error, durationMs },
      );
      return { call, observation };
    }),
  );
  const held = undecided[0];
  if (held) {
    const asked = logged?.requested.get(held.id);
    if (asked) {
      if (Date.parse(asked.expiresAt) <= Date.now()) throw approvalExpired(held.tool, held.id, asked.expiresAt);
    } else {
      const { expiresInMs } = deps.approvals!.required(held.tool, held.arguments)!;
      await events.emit(task.id, 'approval_requested', {
        step,
        callId: held.id,
        tool: held.tool,
        arguments: held.arguments,
        expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
      });
    }
    return { waiting: held.id };
  }
  const byId = new Map(results.map((r) => [r.call.id, r]));
  return { results: calls.map((call) => byId.get(call.id)!) };
}

/** A planner decision's span attributes, after OpenTelemetry's GenAI conventions where they fit. */
function describeDecision(span: Span, planner: string, decision: PlanDecision): void {
  span.setAttributes({
    'opspawn.planner': planner,
    'gen_ai.operation.name': 'chat',
    'opspawn.decision': decision.kind === 'tools' ? 'tools' : 'final',
    ...(decision.model !== undefined ? { 'gen_ai.request.model': decision.model } : {}),
    ...(decision.usage
      ? {
          'gen_ai.usage.input_tokens': decision.usage.inputTokens,
          'gen_ai.usage.output_tokens': decision.usage.outputTokens,
          'opspawn.llm.calls': decision.usage.llmCalls,
        }
      : {}),
  });
}

/** A tool call's span attributes; a call that failed marks the span failed with its code. */
function describeToolCall(span: Span, call: ToolCall, provider: string | undefined, observed: ToolObservation): void {
  span.setAttributes({
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': call.tool,
    'gen_ai.tool.call.id': call.id,
    ...(provider !== undefined ? { 'opspawn.tool.provider': provider } : {}),
  });
  if (!observed.ok) failSpan(span, observed.error.code, observed.error.message);
}

/** The task's end when a call waited for a decision past its request's `expiresAt`. */
export function approvalExpired(tool: string, callId: string, expiresAt: string): OpspawnError {
  return new OpspawnError(
    ErrorCodes.APPROVAL_EXPIRED,
    `the call '${callId}' of '${tool}' waited for approval until ${expiresAt} and nobody decided`,
  );
}

/** A planner's answer must be one of the two decision shapes; anything else is refused with what was wrong. */
function checkDecision(decision: unknown, planner: string): asserts decision is PlanDecision {
  const bad = (why: string): never => {
    throw new OpspawnError(
      ErrorCodes.PLANNER_INVALID_DECISION,
      `planner '${planner}' returned an invalid decision: ${why}`,
    );
  };
  if (typeof decision !== 'object' || decision === null)
    bad(`expected an object, got ${JSON.stringify(decision) ?? String(decision)}`);
  const d = decision as Record<string, unknown>;
  if (d.usage !== undefined) {
    const u = d.usage as Record<string, unknown> | null;
    for (const key of ['inputTokens', 'outputTokens', 'llmCalls'])
      if (!u || !Number.isInteger(u[key]) || (u[key] as number) < 0)
        bad(`usage.${key} must be a non-negative integer, got ${JSON.stringify(u?.[key])}`);
  }
  if (d.model !== undefined && (typeof d.model !== 'string' || d.model.length > 200))
    bad(`model must be a string of at most 200 characters, got ${JSON.stringify(d.model)}`);
  if (d.kind === 'final') return;
  if (d.kind !== 'tools') bad(`kind must be 'tools' or 'final', got ${JSON.stringify(d.kind)}`);
  if (!Array.isArray(d.calls) || d.calls.length === 0) bad('calls must be a non-empty array');
  const ids = new Set<string>();
  (d.calls as unknown[]).forEach((c, i) => {
    const call = c as Record<string, unknown> | null;
    if (!call || typeof call.id !== 'string' || call.id === '') bad(`calls[${i}].id must be a non-empty string`);
    if (typeof call!.tool !== 'string' || call!.tool === '') bad(`calls[${i}].tool must be a non-empty string`);
    if (ids.has(call!.id as string)) bad(`calls[${i}].id '${String(call!.id)}' is used twice`);
    ids.add(call!.id as string);
  });
}
