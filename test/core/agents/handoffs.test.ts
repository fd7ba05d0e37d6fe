import { expect } from 'chai';
import {
  ErrorCodes,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type Task,
  type TaskEvent,
  type TaskService,
} from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { BROKEN_TOOL, DOUBLE_TOOL, toolsPlugin } from '../../helpers/inline-plugins.js';
import { until } from '../../helpers/until.js';

/** Tools the child agents call: one answers, one fails, one runs until it is aborted. */
const tools = toolsPlugin('handoff-tools', 't', [
  DOUBLE_TOOL,
  BROKEN_TOOL,
  {
    name: 'block',
    description: 'runs until aborted',
    inputSchema: { type: 'object' },
    run: (_args, ctx) =>
      new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
  },
  {
    name: 'flaky',
    description: 'fails the first call of each task, then answers',
    inputSchema: { type: 'object' },
    run: (_args, ctx) => {
      if (flakyCalls.has(ctx.taskId!)) return 'fine now';
      flakyCalls.add(ctx.taskId!);
      throw new Error('flaky the first time');
    },
  },
]);
const flakyCalls = new Set<string>();

/** A planner that answers at once with the tools it was offered: what an LLM planner would see. */
const toolsSeenPlanner: InlinePlugin = {
  manifest: { id: 'planner-tools-seen', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, {
        create: () => ({ plan: async (request) => ({ kind: 'final', output: request.tools }) }),
      });
    },
  }),
};

/** A scripted plan step calling `agents__<agent>` with a child plan. */
const handoff = (agent: string, goal: string, plan: unknown[], extra: Record<string, unknown> = {}) => ({
  tool: `agents__${agent}`,
  arguments: { goal, input: { plan, ...extra } },
  onError: 'continue',
});

async function settle(tasks: TaskService, id: string): Promise<Task> {
  for await (const _ of tasks.watch(id));
  return tasks.get(id);
}

const eventsOf = async (tasks: TaskService, id: string, type: TaskEvent['type']) =>
  (await tasks.events(id)).filter((e) => e.type === type);

describe('handoffs: agents calling agents as tools (embedded, SQLite, one worker slot)', function () {
  let kernel: TestKernel;
  let tasks: TaskService;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        { use: '@opspawn/store-sqlite', options: { path: ':memory:' } },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        { use: tools },
        { use: toolsSeenPlanner },
      ],
      planner: 'planner-scripted',
      tasks: { concurrency: 1, maxHandoffDepth: 2, maxChildren: 2, retryBackoffMs: 10, defaultMaxAttempts: 1 },
      agents: {
        worker: { description: 'does arithmetic', tools: ['t__*'] },
        middle: { tools: ['agents__worker'] },
        top: { tools: ['agents__middle', 'agents__worker', 't__flaky'] },
        tower: { tools: ['agents__top'] },
        lister: { planner: 'planner-tools-seen', tools: ['t__double', 'agents__w*'] },
        everything: { tools: ['*'] },
      },
    });
    tasks = kernel.get(services.taskService);
  });
  after(() => kernel?.stop());

  const submit = async (agent: string, plan: unknown[], extra: Record<string, unknown> = {}) =>
    (await tasks.submit({ goal: `run ${agent}`, agent, input: { plan, ...extra } })).task;

  it('runs a two-level handoff to its answer on a worker with one slot, the children listed under their parent', async () => {
    const top = await submit('top', [
      handoff('middle', 'ask the worker', [
        handoff('worker', 'double 21', [{ tool: 't__double', arguments: { x: 21 } }]),
      ]),
    ]);
    const done = await settle(tasks, top.id);
    expect(done.status).to.equal('succeeded');
    expect(done.output).to.deep.equal({ value: 42 });

    const [middle] = (await tasks.list({ parentId: top.id })).tasks;
    expect(middle).to.include({ agent: 'middle', parentId: top.id, status: 'succeeded' });
    expect(middle!.labels).to.deep.equal({ 'opspawn.parent': top.id });
    const [worker] = (await tasks.list({ parentId: middle!.id })).tasks;
    expect(worker).to.include({ agent: 'worker', parentId: middle!.id, status: 'succeeded' });
    expect(worker!.output).to.deep.equal({ value: 42 });

    const [event] = await eventsOf(tasks, top.id, 'handoff');
    expect(event!.data).to.deep.equal({ step: 1, callId: 's1c0', childId: middle!.id, agent: 'middle', created: true });
    const [result] = await eventsOf(tasks, top.id, 'tool_result');
    expect(result!.data).to.include({ tool: 'agents__middle', ok: true });
  });

  it("offers the agents its scope names to its planner as agents__<id> tools, described by the agent's description", async () => {
    const task = (await tasks.submit({ goal: 'list', agent: 'lister' })).task;
    const seen = (await settle(tasks, task.id)).output as Array<{ name: string; description: string }>;
    expect(seen.map((t) => t.name)).to.deep.equal(['t__double', 'agents__worker']);
    expect(seen[1]).to.deep.equal({
      name: 'agents__worker',
      description: 'does arithmetic',
      inputSchema: {
        type: 'object',
        properties: {
          goal: { type: 'string', minLength: 1, maxLength: 10_000, description: 'What the agent should achieve' },
          input: { description: 'Free-form JSON for the agent' },
        },
        required: ['goal'],
        additionalProperties: false,
      },
    });
  });

  it("does not reach agents with a '*' scope: only patterns starting with agents__ do", async () => {
    const task = await submit(
      'everything',
      [{ tool: 'agents__worker', arguments: { goal: 'x' }, onError: 'continue' }],
      {
        final: '{{ steps[0][0] }}',
      },
    );
    const done = await settle(tasks, task.id);
    expect((done.output as { error: { code: string } }).error.code).to.equal(ErrorCodes.TOOL_OUT_OF_SCOPE);
  });

  it('refuses a handoff to an agent outside the scope, starting no child', async () => {
    const tower = await submit('tower', [{ tool: 'agents__worker', arguments: { goal: 'x' }, onError: 'continue' }], {
      final: '{{ steps[0][0] }}',
    });
    const done = await settle(tasks, tower.id);
    expect((done.output as { error: { code: string } }).error.code).to.equal(ErrorCodes.TOOL_OUT_OF_SCOPE);
    expect((await tasks.list({ parentId: tower.id })).tasks).to.deep.equal([]);
  });

  it("gives the parent's planner a coded tool error naming the child when the child fails", async () => {
    const top = await submit('top', [handoff('worker', 'break', [{ tool: 't__broken' }])], {
      final: '{{ steps[0][0] }}',
    });
    const done = await settle(tasks, top.id);
    expect(done.status).to.equal('succeeded');
    const [child] = (await tasks.list({ parentId: top.id })).tasks;
    expect(child!.status).to.equal('failed');
    const seen = done.output as { ok: boolean; error: { code: string; message: string } };
    expect(seen.ok).to.equal(false);
    expect(seen.error.code).to.equal(ErrorCodes.HANDOFF_FAILED);
    expect(seen.error.message).to.contain(child!.id).and.contain(ErrorCodes.PLANNER_FAILED).and.contain('broke');
  });

  it('refuses a handoff deeper than tasks.maxHandoffDepth with a coded error', async () => {
    // Templates in a nested plan would be rendered by the outer planner: the inner calls fail their task instead.
    const strict = (agent: string, goal: string, plan: unknown[]) => ({
      tool: `agents__${agent}`,
      arguments: { goal, input: { plan } },
    });
    const tower = await submit(
      'tower',
      [handoff('top', 'go down', [strict('middle', 'go further', [strict('worker', 'too deep', [])])])],
      {
        final: '{{ steps[0][0] }}',
      },
    );
    const done = await settle(tasks, tower.id);
    const middleSaw = JSON.stringify(done.output);
    expect(middleSaw).to.contain(ErrorCodes.HANDOFF_DEPTH_EXCEEDED).and.contain('tasks.maxHandoffDepth is 2');
    const [top] = (await tasks.list({ parentId: tower.id })).tasks;
    const [middle] = (await tasks.list({ parentId: top!.id })).tasks;
    expect((await tasks.list({ parentId: middle!.id })).tasks).to.deep.equal([]);
  });

  it('refuses a child beyond tasks.maxChildren with a coded error, the others running', async () => {
    const top = await submit(
      'top',
      [[1, 2, 3].map((x) => handoff('worker', `double ${x}`, [{ tool: 't__double', arguments: { x } }]))],
      { final: '{{ steps[0] }}' },
    );
    const done = await settle(tasks, top.id);
    const seen = done.output as Array<{ ok: boolean; output?: unknown; error?: { code: string } }>;
    expect(seen.filter((s) => s.ok)).to.have.length(2);
    expect(seen.filter((s) => !s.ok).map((s) => s.error!.code)).to.deep.equal([ErrorCodes.HANDOFF_FAN_OUT_EXCEEDED]);
    expect((await tasks.list({ parentId: top.id })).tasks).to.have.length(2);
  });

  it('cancelling the parent cancels its children, transitively', async () => {
    const top = await submit('top', [handoff('middle', 'wait', [handoff('worker', 'block', [{ tool: 't__block' }])])]);
    const worker = await until('the grandchild to run', async () => {
      const [middle] = (await tasks.list({ parentId: top.id })).tasks;
      if (!middle) return undefined;
      const [child] = (await tasks.list({ parentId: middle.id, status: ['running'] })).tasks;
      return child;
    });
    await tasks.cancel(top.id);
    expect((await settle(tasks, top.id)).status).to.equal('cancelled');
    const [middle] = (await tasks.list({ parentId: top.id })).tasks;
    expect((await settle(tasks, middle!.id)).status).to.equal('cancelled');
    expect((await settle(tasks, worker.id)).status).to.equal('cancelled');
  });

  it("fails the parent's call when its child alone is cancelled, and the parent goes on", async () => {
    const top = await submit('top', [handoff('worker', 'block', [{ tool: 't__block' }])], {
      final: '{{ steps[0][0] }}',
    });
    const child = await until('the child to run', async () => {
      const [c] = (await tasks.list({ parentId: top.id, status: ['running'] })).tasks;
      return c;
    });
    await tasks.cancel(child.id);
    const done = await settle(tasks, top.id);
    expect(done.status).to.equal('succeeded');
    const seen = done.output as { error: { code: string; message: string } };
    expect(seen.error.code).to.equal(ErrorCodes.HANDOFF_FAILED);
    expect(seen.error.message).to.contain(child.id).and.contain('cancelled').and.contain(ErrorCodes.TASK_CANCELLED);
  });

  it("cancels the child when the parent's attempt times out", async () => {
    const top = (
      await tasks.submit({
        goal: 'time out',
        agent: 'top',
        timeoutMs: 1000,
        input: { plan: [handoff('worker', 'block', [{ tool: 't__block' }])] },
      })
    ).task;
    const done = await settle(tasks, top.id);
    expect(done.status).to.equal('failed');
    expect(done.error!.code).to.equal(ErrorCodes.TASK_TIMEOUT);
    const [child] = (await tasks.list({ parentId: top.id })).tasks;
    expect((await settle(tasks, child!.id)).status).to.equal('cancelled');
  });

  it('does not hand off again when a retried attempt resumes after the completed handoff step', async () => {
    const top = (
      await tasks.submit({
        goal: 'retry',
        agent: 'top',
        maxAttempts: 2,
        input: {
          plan: [handoff('worker', 'double 5', [{ tool: 't__double', arguments: { x: 5 } }]), { tool: 't__flaky' }],
        },
      })
    ).task;
    const done = await settle(tasks, top.id);
    expect(done).to.include({ status: 'succeeded', attempts: 2, output: 'fine now' });
    const children = (await tasks.list({ parentId: top.id })).tasks;
    expect(children).to.have.length(1);
    const handoffs = (await eventsOf(tasks, top.id, 'handoff')).map((e) => e.data);
    expect(handoffs, 'step 1 is checkpointed: the retry runs only the failed call of step 2').to.deep.equal([
      { step: 1, callId: 's1c0', childId: children[0]!.id, agent: 'worker', created: true },
    ]);
  });

  it('shows no agents__ tools to a task that runs no agent', async () => {
    const task = (
      await tasks.submit({
        goal: 'unscoped',
        input: {
          plan: [{ tool: 'agents__worker', arguments: { goal: 'x' }, onError: 'continue' }],
          final: '{{ steps[0][0] }}',
        },
      })
    ).task;
    const done = await settle(tasks, task.id);
    expect((done.output as { error: { code: string } }).error.code).to.equal(ErrorCodes.TOOL_NOT_FOUND);
  });
});
