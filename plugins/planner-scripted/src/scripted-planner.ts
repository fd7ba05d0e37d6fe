import { ErrorCodes, OpspawnError, type PlanDecision, type PlanRequest, type Planner, type StepRecord } from '@opspawn/plugin-sdk';
import { validatePlan } from './plan.js';
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
    const done = request.history.length;
    const failed = failedCall(request.history, plan.steps);
    if (failed) throw failed;
    const scope = templateScope(request);
    if (done < plan.steps.length) {
      const step = done + 1;
      const calls = plan.steps[done]!.map((call, i) => ({
        id: `s${step}c${i}`,
        tool: call.tool,
        arguments: render(call.arguments, scope, `input.plan[${done}]${plan.steps[done]!.length > 1 ? `[${i}]` : ''}.arguments`),
      }));
      return { kind: 'tools', calls, thought: `step ${step} of ${plan.steps.length}` };
    }
    const output = plan.hasFinal ? render(plan.final, scope, 'input.final') : (scope.last as { output?: unknown } | undefined)?.output ?? null;
    return { kind: 'final', output };
  }
}

/** The first failed observation of a call whose onError is 'fail', as the planner's error. */
function failedCall(history: StepRecord[], steps: ReturnType<typeof validatePlan>['steps']): OpspawnError | undefined {
  for (const record of history) {
    for (const [i, { call, observation }] of record.calls.entries()) {
      const planned = steps[record.step - 1]?.[i];
      if (!observation.ok && planned?.onError !== 'continue') {
        return new OpspawnError(ErrorCodes.PLANNER_FAILED, `step ${record.step} call '${call.tool}' failed: ${observation.error.code}: ${observation.error.message}`, {
          hint: 'fix the tool call, or mark the step "onError": "continue"',
        });
      }
    }
  }
  return undefined;
}

function templateScope(request: PlanRequest): Record<string, unknown> {
  const outputs = request.history.map((record) => {
    const results = record.calls.map(({ observation }) => (observation.ok ? { output: observation.output, ok: true } : { error: observation.error, ok: false }));
    // A single-call step reads as steps[N].output; a parallel step as steps[N][M].output.
    return results.length === 1 ? Object.assign([results[0]], results[0]) : results;
  });
  return { goal: request.task.goal, input: request.task.input, steps: outputs, last: outputs[outputs.length - 1] };
}
