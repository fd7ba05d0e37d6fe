import { expect } from 'chai';
import {
  ErrorCodes,
  OpspawnError,
  newTaskId,
  type PlanDecision,
  type PlanRequest,
  type StepRecord,
  type Task,
  type ToolObservation,
} from '@opspawn/plugin-sdk';
import { plannerContract } from '@opspawn/plugin-sdk/testing';
import { ScriptedPlanner, validatePlan } from '@opspawn/planner-scripted';

plannerContract('planner-scripted', async () => ({ planner: new ScriptedPlanner() }), {
  input: {
    plan: [
      { tool: 'echo__say', arguments: { text: 'hello' } },
      { tool: 'echo__say', arguments: { text: '{{ steps[0].output.text }} again' } },
    ],
  },
});

function task(input: unknown, goal = 'do the plan'): Task {
  const now = new Date().toISOString();
  const id = newTaskId();
  return {
    id,
    goal,
    input,
    planner: 'planner-scripted',
    memory: 'memory-buffer',
    sessionId: id,
    status: 'running',
    attempts: 1,
    maxAttempts: 1,
    timeoutMs: 60_000,
    maxSteps: 20,
    priority: 0,
    labels: {},
    cancelRequested: false,
    createdAt: now,
    updatedAt: now,
  };
}

function request(input: unknown, history: StepRecord[] = [], signal = new AbortController().signal): PlanRequest {
  return { task: task(input), messages: [], tools: [], step: history.length + 1, history, signal };
}

type Tool = (args: any) => ToolObservation;
const ok = (output: unknown): ToolObservation => ({ ok: true, output });
const TOOLS: Record<string, Tool> = {
  math__add: ({ a, b }) => ok({ sum: a + b }),
  text__upper: ({ text }) => ok(String(text).toUpperCase()),
  echo__args: (args) => ok(args),
  broken__tool: () => ({ ok: false, error: { code: 'OPSPAWN_TOOL_FAILED', message: 'it broke' } }),
};

/** Drives the planner the way the agent loop does, with the tools above, until its final answer. */
async function run(
  input: unknown,
): Promise<{ output: unknown; steps: Array<Extract<PlanDecision, { kind: 'tools' }>> }> {
  const planner = new ScriptedPlanner();
  const history: StepRecord[] = [];
  const steps: Array<Extract<PlanDecision, { kind: 'tools' }>> = [];
  for (;;) {
    const decision = await planner.plan(request(input, history));
    if (decision.kind === 'final') return { output: decision.output, steps };
    steps.push(decision);
    history.push({
      step: history.length + 1,
      calls: decision.calls.map((call) => ({ call, observation: TOOLS[call.tool]!(call.arguments) })),
    });
  }
}

/** The error a promise rejects with, or a failure if it resolves. */
async function failure(promise: Promise<unknown>): Promise<OpspawnError> {
  try {
    await promise;
  } catch (error) {
    return error as OpspawnError;
  }
  throw new Error('expected a rejection');
}

function refusal(input: unknown): OpspawnError {
  try {
    validatePlan(input);
  } catch (error) {
    return error as OpspawnError;
  }
  throw new Error('expected validatePlan to refuse the input');
}

describe('planner-scripted', () => {
  describe('running a plan', () => {
    it("runs each step in turn and answers with the last step's output by default", async () => {
      const { output, steps } = await run({
        plan: [
          { tool: 'math__add', arguments: { a: 2, b: 3 } },
          { tool: 'text__upper', arguments: { text: 'done' } },
        ],
      });
      expect(steps.map((s) => s.calls.map((c) => c.tool))).to.deep.equal([['math__add'], ['text__upper']]);
      expect(output).to.equal('DONE');
    });

    it('gives calls deterministic ids s<step>c<index>, steps counted from 1', async () => {
      const { steps } = await run({
        plan: [
          { tool: 'math__add', arguments: { a: 1, b: 1 } },
          [
            { tool: 'text__upper', arguments: { text: 'a' } },
            { tool: 'text__upper', arguments: { text: 'b' } },
          ],
        ],
      });
      expect(steps.map((s) => s.calls.map((c) => c.id))).to.deep.equal([['s1c0'], ['s2c0', 's2c1']]);
    });

    it("runs a list of calls as one step, and templates read each call's result by index", async () => {
      const { output, steps } = await run({
        plan: [
          [
            { tool: 'math__add', arguments: { a: 1, b: 2 } },
            { tool: 'math__add', arguments: { a: 10, b: 20 } },
          ],
          { tool: 'math__add', arguments: { a: '{{ steps[0][0].output.sum }}', b: '{{ steps.0.1.output.sum }}' } },
        ],
      });
      expect(steps[0]!.calls).to.have.length(2);
      expect(output).to.deep.equal({ sum: 33 });
    });

    it('answers with the templated final when the plan has one', async () => {
      const { output } = await run({
        plan: [{ tool: 'math__add', arguments: { a: 2, b: 3 } }],
        final: {
          total: '{{ steps[0].output.sum }}',
          summary: '{{ goal }}: {{ last.output.sum }}',
          labels: ['{{ input.tag }}'],
        },
        tag: 'ci',
      });
      expect(output).to.deep.equal({ total: 5, summary: 'do the plan: 5', labels: ['ci'] });
    });

    it('answers at once when the plan is empty and there is a final', async () => {
      const { output, steps } = await run({ plan: [], final: 'nothing to do, {{ input.who }}', who: 'friend' });
      expect(steps).to.have.length(0);
      expect(output).to.equal('nothing to do, friend');
    });

    it('is stateless: the step it plans is the number of steps in the history', async () => {
      const planner = new ScriptedPlanner();
      const input = {
        plan: [
          { tool: 'math__add', arguments: { a: 1, b: 1 } },
          { tool: 'text__upper', arguments: { text: 'x' } },
        ],
      };
      const first = await planner.plan(request(input));
      const again = await planner.plan(request(input));
      expect(again).to.deep.equal(first);
      const history: StepRecord[] = [
        { step: 1, calls: [{ call: { id: 's1c0', tool: 'math__add', arguments: {} }, observation: ok({ sum: 2 }) }] },
      ];
      const second = await new ScriptedPlanner().plan(request(input, history));
      expect(second).to.deep.include({ kind: 'tools' });
      expect((second as Extract<PlanDecision, { kind: 'tools' }>).calls[0]!.tool).to.equal('text__upper');
    });
  });

  describe('templates', () => {
    const step0 = (output: unknown): StepRecord[] => [
      { step: 1, calls: [{ call: { id: 's1c0', tool: 'echo__args', arguments: {} }, observation: ok(output) }] },
    ];
    async function argumentsOf(
      template: unknown,
      input: Record<string, unknown> = {},
      earlier: unknown = { sum: 5, list: [1, 2], name: 'ada' },
    ): Promise<unknown> {
      const plan = {
        ...input,
        plan: [
          { tool: 'echo__args', arguments: {} },
          { tool: 'echo__args', arguments: template },
        ],
      };
      const decision = await new ScriptedPlanner().plan(request(plan, step0(earlier)));
      return (decision as Extract<PlanDecision, { kind: 'tools' }>).calls[0]!.arguments;
    }

    it('turns a string that is exactly one template into the raw value', async () => {
      expect(
        await argumentsOf({
          n: '{{ steps[0].output.sum }}',
          all: '{{steps[0].output}}',
          list: '{{ last.output.list }}',
        }),
      ).to.deep.equal({ n: 5, all: { sum: 5, list: [1, 2], name: 'ada' }, list: [1, 2] });
    });

    it('stringifies templates inside longer strings: strings as they are, other values as JSON', async () => {
      expect(
        await argumentsOf({
          text: 'hi {{ steps[0].output.name }}, sum={{ steps[0].output.sum }}, list={{ steps[0].output.list }}',
        }),
      ).to.deep.equal({ text: 'hi ada, sum=5, list=[1,2]' });
    });

    it('reads the goal, the task input and the previous step through last', async () => {
      expect(
        await argumentsOf(
          {
            goal: '{{ goal }}',
            x: '{{ input.x }}',
            deep: '{{ input.nested.list[1] }}',
            last: '{{ last.output.name }}',
          },
          { x: 7, nested: { list: ['a', 'b'] } },
        ),
      ).to.deep.equal({ goal: 'do the plan', x: 7, deep: 'b', last: 'ada' });
    });

    it('templates arguments nested in arrays and objects, and leaves other values alone', async () => {
      expect(await argumentsOf({ items: [{ v: '{{ steps[0].output.sum }}' }, 3, null, true] })).to.deep.equal({
        items: [{ v: 5 }, 3, null, true],
      });
    });

    it('refuses a path that does not exist, naming the path and the step', async () => {
      const error = await failure(argumentsOf({ n: '{{ steps[0].output.missing.deeper }}' }));
      expect(error.code).to.equal(ErrorCodes.PLANNER_FAILED);
      expect(error.message).to.equal(
        'step 2 (input.plan[1].arguments): template {{ steps[0].output.missing.deeper }} does not resolve: steps[0].output.missing does not exist',
      );
    });

    it('refuses to read a step that has not run yet', async () => {
      const error = await failure(argumentsOf({ n: '{{ steps[1].output }}' }));
      expect(error.message).to.include('steps[1] does not exist');
    });

    it('refuses last.output in the first step, and inherited properties anywhere', async () => {
      const first = await failure(
        new ScriptedPlanner().plan(request({ plan: [{ tool: 'echo__args', arguments: { x: '{{ last.output }}' } }] })),
      );
      expect(first.message).to.equal(
        'step 1 (input.plan[0].arguments): template {{ last.output }} does not resolve: last does not exist',
      );
      const inherited = await failure(argumentsOf({ x: '{{ input.constructor }}' }));
      expect(inherited.message).to.include('input.constructor does not exist');
    });

    it('names the call of a parallel step, and the final answer, when their template does not resolve', async () => {
      const parallel = await failure(
        new ScriptedPlanner().plan(
          request({
            plan: [
              [
                { tool: 'echo__args', arguments: {} },
                { tool: 'echo__args', arguments: { x: '{{ input.nope }}' } },
              ],
            ],
          }),
        ),
      );
      expect(parallel.message).to.match(/^step 1 \(input\.plan\[0\]\[1\]\.arguments\): .* input\.nope does not exist$/);
      const final = await failure(run({ plan: [], final: '{{ steps[0].output }}' }));
      expect(final.message).to.equal(
        'final answer (input.final): template {{ steps[0].output }} does not resolve: steps[0] does not exist',
      );
    });
  });

  describe('failed tool calls', () => {
    it("fails the task naming the step, the tool and the tool's error", async () => {
      const error = await failure(
        run({
          plan: [
            { tool: 'math__add', arguments: { a: 1, b: 1 } },
            { tool: 'broken__tool', arguments: {} },
            { tool: 'math__add', arguments: { a: 1, b: 1 } },
          ],
        }),
      );
      expect(error).to.be.instanceOf(OpspawnError);
      expect(error.code).to.equal(ErrorCodes.PLANNER_FAILED);
      expect(error.message).to.equal("step 2 call 'broken__tool' failed: OPSPAWN_TOOL_FAILED: it broke");
    });

    it('goes on after a call marked onError continue, which later templates can inspect', async () => {
      const { output, steps } = await run({
        plan: [
          [
            { tool: 'broken__tool', arguments: {}, onError: 'continue' },
            { tool: 'math__add', arguments: { a: 1, b: 2 } },
          ],
          { tool: 'text__upper', arguments: { text: '{{ steps[0][0].error.message }}' } },
        ],
        final: { failed: '{{ steps[0][0].ok }}', sum: '{{ steps[0][1].output.sum }}', shout: '{{ last.output }}' },
      });
      expect(steps).to.have.length(2);
      expect(output).to.deep.equal({ failed: false, sum: 3, shout: 'IT BROKE' });
    });

    it('answers null by default when the last call failed and was allowed to', async () => {
      const { output } = await run({ plan: [{ tool: 'broken__tool', arguments: {}, onError: 'continue' }] });
      expect(output).to.equal(null);
    });

    it('fails on a failed call of a parallel step whose onError is fail, even when its sibling may continue', async () => {
      const error = await failure(
        run({
          plan: [
            [
              { tool: 'broken__tool', onError: 'continue' },
              { tool: 'broken__tool', onError: 'fail' },
            ],
          ],
        }),
      );
      expect(error.message).to.equal("step 1 call 'broken__tool' failed: OPSPAWN_TOOL_FAILED: it broke");
    });
  });

  describe('cancellation', () => {
    it('throws when the request signal is already aborted', async () => {
      const controller = new AbortController();
      const reason = new OpspawnError(ErrorCodes.TASK_CANCELLED, 'cancelled on request');
      controller.abort(reason);
      const error = await failure(
        new ScriptedPlanner().plan(request({ plan: [{ tool: 'math__add' }] }, [], controller.signal)),
      );
      expect(error).to.equal(reason);
    });
  });

  describe('refusing bad plans', () => {
    const cases: Array<[string, unknown, string]> = [
      ['an input that is not an object', 'add 2 and 3', 'input must be an object with a "plan" array'],
      ['an input that is null', null, 'input must be an object with a "plan" array'],
      ['a missing plan', { final: 1 }, 'input.plan must be an array of steps'],
      ['a plan that is not an array', { plan: { tool: 'a__b' } }, 'input.plan must be an array of steps'],
      ['an empty plan without a final', { plan: [] }, 'input.plan is empty and there is no "final": nothing to do'],
      [
        'a step that is not an object',
        { plan: [{ tool: 'a__b' }, 'a__b'] },
        'input.plan[1] must be an object with a "tool"',
      ],
      [
        'a step without a tool',
        { plan: [{ tool: 'a__b' }, { tool: 'a__b' }, { arguments: {} }] },
        'input.plan[2].tool must be a non-empty string',
      ],
      ['a tool that is not a string', { plan: [{ tool: 42 }] }, 'input.plan[0].tool must be a non-empty string'],
      ['an empty tool name', { plan: [{ tool: '' }] }, 'input.plan[0].tool must be a non-empty string'],
      ['an empty parallel step', { plan: [[]] }, 'input.plan[0] must not be an empty list of calls'],
      [
        'a bad call inside a parallel step',
        { plan: [[{ tool: 'a__b' }, { tool: null }]] },
        'input.plan[0][1].tool must be a non-empty string',
      ],
      [
        'an unknown onError',
        { plan: [{ tool: 'a__b', onError: 'ignore' }] },
        'input.plan[0].onError must be "fail" or "continue"',
      ],
      [
        'arguments that are not an object',
        { plan: [{ tool: 'a__b', arguments: [1, 2] }] },
        'input.plan[0].arguments must be an object (or one "{{ template }}" that gives an object)',
      ],
      [
        'arguments that are a plain string',
        { plan: [{ tool: 'a__b', arguments: 'x={{ input.x }}' }] },
        'input.plan[0].arguments must be an object (or one "{{ template }}" that gives an object)',
      ],
      [
        'a misspelt field',
        { plan: [{ tool: 'a__b', args: {} }] },
        'input.plan[0].args is not a known field (tool, arguments, onError)',
      ],
    ];
    for (const [what, input, message] of cases) {
      it(`refuses ${what}: "${message}"`, () => {
        const error = refusal(input);
        expect(error).to.be.instanceOf(OpspawnError);
        expect(error.code).to.equal(ErrorCodes.TASK_INVALID);
        expect(error.message).to.equal(message);
      });
    }

    it('refuses the same inputs when asked to plan, and through validateInput at submit time', async () => {
      const input = { plan: [{ arguments: {} }] };
      expect(() => new ScriptedPlanner().validateInput(input)).to.throw(
        OpspawnError,
        'input.plan[0].tool must be a non-empty string',
      );
      const error = await failure(new ScriptedPlanner().plan(request(input)));
      expect(error.code).to.equal(ErrorCodes.TASK_INVALID);
    });

    it('accepts arguments given as one template, and calls without arguments', () => {
      const plan = validatePlan({ plan: [{ tool: 'a__b' }, { tool: 'a__b', arguments: '{{ steps[0].output }}' }] });
      expect(plan.steps.map((s) => s.map((c) => c.arguments))).to.deep.equal([[{}], ['{{ steps[0].output }}']]);
    });
  });
});
