import { expect } from 'chai';
import type { ChatMessage } from '../extension-points/memory.js';
import type { PlanDecision, PlanRequest, Planner, StepRecord } from '../extension-points/planner.js';
import type { ToolSpec } from '../extension-points/tool-provider.js';
import { newTaskId } from '../task-id.js';
import type { Task } from '../task.js';

export interface PlannerUnderTest {
  planner: Planner;
  /** Runs after each test: stop a fake model server, close clients. */
  cleanup?: () => Promise<void>;
}

export interface PlannerContractOptions {
  /** A task input this planner accepts (a scripted planner's plan; usually null for a model-driven one). */
  input: unknown;
  /** Tools offered to the planner. Default: one `echo__say` tool taking `{ text }`. */
  tools?: ToolSpec[];
  /** The task's goal. Default: 'say hello'. */
  goal?: string;
}

const ECHO_TOOL: ToolSpec = {
  name: 'echo__say',
  description: 'Echoes the text it is given.',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string' } },
    required: ['text'],
    additionalProperties: false,
  },
  outputSchema: { type: 'object', properties: { text: { type: 'string' } } },
};

function taskFor(options: PlannerContractOptions, goal: string): Task {
  const now = new Date().toISOString();
  const id = newTaskId();
  return {
    id,
    goal,
    input: options.input,
    planner: 'planner-under-test',
    memory: 'memory',
    sessionId: id,
    status: 'running',
    attempts: 1,
    maxAttempts: 1,
    timeoutMs: 60_000,
    maxSteps: 10,
    priority: 0,
    labels: {},
    cancelRequested: false,
    createdAt: now,
    updatedAt: now,
    startedAt: now,
  };
}

function requestFor(options: PlannerContractOptions, signal: AbortSignal): PlanRequest {
  const goal = options.goal ?? 'say hello';
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are a careful assistant. Use the tools when they help.' },
    { role: 'user', content: goal },
  ];
  return { task: taskFor(options, goal), messages, tools: options.tools ?? [ECHO_TOOL], step: 1, history: [], signal };
}

/** The request without its signal, which is neither cloneable nor comparable. */
function snapshot(request: PlanRequest): unknown {
  const { signal: _signal, ...rest } = request;
  return structuredClone(rest);
}

/** The two decision shapes the task engine accepts, checked the way it checks them. */
function expectWellFormed(decision: PlanDecision): void {
  expect(decision, 'decision').to.be.an('object');
  expect(['tools', 'final'], 'decision.kind').to.include(decision.kind);
  if (decision.kind === 'final') {
    expect(decision, 'a final decision carries an output').to.have.property('output');
    return;
  }
  expect(decision.calls, 'decision.calls').to.be.an('array').that.is.not.empty;
  const ids = new Set<string>();
  for (const [i, call] of decision.calls.entries()) {
    expect(call.id, `calls[${i}].id`).to.be.a('string').that.is.not.empty;
    expect(call.tool, `calls[${i}].tool`).to.be.a('string').that.is.not.empty;
    expect(ids.has(call.id), `calls[${i}].id is unique`).to.equal(false);
    ids.add(call.id);
  }
}

/** A successful observation for each call of a decision, as the agent loop would record it. */
function observed(decision: Extract<PlanDecision, { kind: 'tools' }>): StepRecord {
  return {
    step: 1,
    thought: decision.thought,
    calls: decision.calls.map((call) => ({ call, observation: { ok: true, output: { text: 'hello' } } })),
  };
}

/**
 * What every planner promises (see `Planner`): a well-formed decision for a request with tools and messages,
 * also after a step has run and for a task that runs an agent; a refusal when the signal is already aborted; the request left as it was given.
 *
 *     plannerContract('planner-scripted', async () => ({ planner: new ScriptedPlanner() }), {
 *       input: { plan: [{ tool: 'echo__say', arguments: { text: 'hello' } }] },
 *     });
 */
export function plannerContract(
  name: string,
  makePlanner: () => Promise<PlannerUnderTest>,
  options: PlannerContractOptions,
): void {
  describe(`${name} keeps the planner contract`, () => {
    /** Undefined while a make function fails: afterEach then has nothing to clean up, and the failure shows as is. */
    let subject: PlannerUnderTest | undefined;
    let planner: Planner;

    beforeEach(async () => {
      subject = undefined;
      subject = await makePlanner();
      planner = subject.planner;
    });

    afterEach(async () => {
      await subject?.cleanup?.();
    });

    it('returns tool calls or a final answer for a request with tools and messages', async () => {
      expectWellFormed(await planner.plan(requestFor(options, new AbortController().signal)));
    });

    it('returns a well-formed decision after a step has run', async () => {
      const first = requestFor(options, new AbortController().signal);
      const decision = await planner.plan(first);
      if (decision.kind === 'final') return; // finished in one step: nothing more to decide
      const second: PlanRequest = { ...first, step: 2, history: [observed(decision)] };
      expectWellFormed(await planner.plan(second));
    });

    it("returns a well-formed decision for a task that runs an agent, with the agent's instructions and options", async () => {
      const request: PlanRequest = {
        ...requestFor(options, new AbortController().signal),
        agent: { id: 'contract-agent', instructions: 'Answer briefly.', options: { temperature: 0 } },
      };
      expectWellFormed(await planner.plan(request));
    });

    it('accepts the task input it is given, when it checks inputs', () => {
      planner.validateInput?.(options.input);
    });

    it('refuses to plan when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort(new Error('cancelled before planning'));
      let refused = false;
      await planner.plan(requestFor(options, controller.signal)).catch(() => (refused = true));
      expect(refused, 'plan() rejected').to.equal(true);
    });

    it('leaves the request it is given unchanged', async () => {
      const request = requestFor(options, new AbortController().signal);
      const before = snapshot(request);
      const decision = await planner.plan(request);
      expect(snapshot(request)).to.deep.equal(before);
      if (decision.kind === 'tools') {
        const next: PlanRequest = { ...request, step: 2, history: [observed(decision)] };
        const nextBefore = snapshot(next);
        await planner.plan(next);
        expect(snapshot(next)).to.deep.equal(nextBefore);
      }
    });
  });
}
