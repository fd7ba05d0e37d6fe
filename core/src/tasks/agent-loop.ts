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
  type ToolRegistry,
} from '@opspawn/plugin-sdk';
import type { DeltaStream } from './task-deltas.js';
import type { TaskEvents } from './task-events.js';
import type { UsageTally } from './token-usage.js';

export interface AgentLoopDeps {
  planner: Planner;
  memory: Memory;
  tools: ToolRegistry;
  events: TaskEvents;
  /** Where the planner's fragments go while it generates a decision (watchers see them live). */
  deltas?: DeltaStream;
  /** The agent the task runs, handed to the planner; `tools` is then already its scoped view. */
  agent?: PlanAgent;
  /** Adds up the tokens each decision reports. */
  usage?: UsageTally;
}

/**
 * One attempt of a task: the planner decides, tools run, results go into memory, until a final answer or
 * max steps. Aborting `signal` (timeout, cancellation, shutdown) stops it between and inside steps: the
 * signal reaches the planner and every tool call.
 */
export async function runAgentLoop(
  task: Task,
  attempt: number,
  signal: AbortSignal,
  deps: AgentLoopDeps,
): Promise<unknown> {
  const { planner, memory, tools, events, agent, deltas } = deps;
  const toolSpecs = (await tools.list()).map(({ provider: _p, ...spec }) => spec);
  if (attempt === 1) await memory.append(task.sessionId, [{ role: 'user', content: task.goal }]);
  const history: StepRecord[] = [];
  for (let step = 1; step <= task.maxSteps; step++) {
    signal.throwIfAborted();
    const messages = await memory.load(task.sessionId);
    let decision: PlanDecision;
    // Fragments count only while this step's decision is being made; a planner calling back later is ignored.
    let planning = true;
    const onDelta =
      deltas &&
      ((delta: PlanDelta) => {
        if (planning) deltas.push(step, delta);
      });
    try {
      decision = await planner.plan({
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
        : new OpspawnError(ErrorCodes.PLANNER_FAILED, `planner '${task.planner}' failed: ${describeError(error)}`, {
            cause: error,
          });
    } finally {
      planning = false;
      deltas?.flush();
    }
    signal.throwIfAborted();
    checkDecision(decision, task.planner);
    if (decision.usage) deps.usage?.add(decision.usage);
    const usage = decision.usage ? { usage: decision.usage } : {};
    if (decision.kind === 'final') {
      await memory.append(task.sessionId, [
        {
          role: 'assistant',
          content: typeof decision.output === 'string' ? decision.output : (JSON.stringify(decision.output) ?? ''),
        },
      ]);
      await events.emit(task.id, 'final', { output: decision.output ?? null, step, ...usage });
      return decision.output ?? null;
    }
    await events.emit(task.id, 'plan', { step, thought: decision.thought, calls: decision.calls, ...usage });
    await memory.append(task.sessionId, [
      { role: 'assistant', content: decision.thought ?? '', toolCalls: decision.calls },
    ]);
    const results = await Promise.all(
      decision.calls.map(async (call) => {
        await events.emit(task.id, 'tool_call', { step, id: call.id, tool: call.tool, arguments: call.arguments });
        const started = performance.now();
        const observation = await tools.call(call.tool, call.arguments, {
          signal,
          taskId: task.id,
          step,
          callId: call.id,
          log: (level, message, data) =>
            void events
              .emit(task.id, 'log', { level, message, source: call.tool, ...(data ? { data } : {}) })
              .catch(() => undefined),
        });
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
    const toolMessages: ChatMessage[] = results.map(({ call, observation }) => ({
      role: 'tool',
      toolCallId: call.id,
      name: call.tool,
      content: JSON.stringify(observation.ok ? observation.output : { error: observation.error }) ?? 'null',
    }));
    await memory.append(task.sessionId, toolMessages);
    history.push({ step, thought: decision.thought, calls: results });
  }
  throw new OpspawnError(ErrorCodes.TASK_MAX_STEPS, `the task used all ${task.maxSteps} steps without a final answer`, {
    hint: 'raise maxSteps, or check why the planner does not finish',
  });
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
