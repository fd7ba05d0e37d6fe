import {
  ErrorCodes,
  OpspawnError,
  isRetryable,
  type PlanDecision,
  type PlanRequest,
  type Planner,
  type StepRecord,
} from '@opspawn/plugin-sdk';
import { validatePlan, type Plan } from './plan.js';
import { render } from './templates.js';

/**
 * Runs the plan given in the task input, one step per decision: deterministic, for pipelines, CI and offline
 * use. Stateless: the step to run is the number of steps already recorded in the request's history.
 */
export class ScriptedPlanner implements Planner {
  validateInput(input: unknown): void {
    validatePlan(input);
  }

  async plan(request: PlanRequest): Promise<PlanDecision> {
    request.signal.throwIfAborted();
    const plan = validatePlan(request.task.input);
    const failed = failedCall(request.history, plan);
    if (failed) throw failed;
    const scope = templateScope(request);
    const done = request.history.length;
    if (done < plan.steps.length) {
      const step = done + 1;
      const planned = plan.steps[done]!;
      const calls = planned.map((call, i) => {
        const path = `input.plan[${done}]${planned.length > 1 ? `[${i}]` : ''}.arguments`;
        return {
          id: `s${step}c${i}`,
          tool: call.tool,
          arguments: render(call.arguments, scope, `step ${step} (${path})`),
        };
      });
      return { kind: 'tools', calls, thought: `step ${step} of ${plan.steps.length}` };
    }
    const output = plan.hasFinal
      ? render(plan.final, scope, 'final answer (input.final)')
      : ((scope.last as { output?: unknown } | undefined)?.output ?? null);
    return { kind: 'final', output };
  }
}

/** The first failed observation of a call whose onError is 'fail', as the planner's error. Steps count from 1. */
function failedCall(history: StepRecord[], plan: Plan): OpspawnError | undefined {
  for (const [s, record] of history.entries()) {
    for (const [i, { call, observation }] of record.calls.entries()) {
      if (!observation.ok && plan.steps[s]?.[i]?.onError !== 'continue') {
        return new OpspawnError(
          ErrorCodes.PLANNER_FAILED,
          `step ${s + 1} call '${call.tool}' failed: ${observation.error.code}: ${observation.error.message}`,
          {
            hint: 'fix the tool call, or mark the call "onError": "continue"',
            // An unknown tool or refused arguments fail the same way on every attempt.
            retryable: isRetryable(observation.error.code),
            details: [{ step: s + 1, call: call.id, tool: call.tool, error: observation.error }],
          },
        );
      }
    }
  }
  return undefined;
}

/** What templates read: goal, input, steps (0-based; a one-call step also reads as its call) and last. */
function templateScope(request: PlanRequest): Record<string, unknown> {
  const outputs = request.history.map((record) => {
    const results = record.calls.map(({ observation }) =>
      observation.ok ? { ok: true, output: observation.output } : { ok: false, error: observation.error },
    );
    // A single-call step reads as steps[N].output; a parallel step as steps[N][M].output.
    return results.length === 1 ? Object.assign([results[0]], results[0]) : results;
  });
  const scope: Record<string, unknown> = { goal: request.task.goal, input: request.task.input, steps: outputs };
  if (outputs.length > 0) scope.last = outputs[outputs.length - 1];
  return scope;
}
