import { expect } from 'chai';
import {
  ErrorCodes,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type OpspawnError,
  type PlanRequest,
  type TaskEvent,
  type TaskService,
} from '@opspawn/plugin-sdk';
import { PassThrough } from 'node:stream';
import { bootKernel, createLogger } from '@opspawn/core';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';

/** What the recording planner was asked, by task id: the agent and the tools it was offered. */
const seen = new Map<string, Pick<PlanRequest, 'agent'> & { tools: string[] }>();

/**
 * A planner plugin that records each PlanRequest and then calls the tool named in `input.call` (first step) and
 * answers with what it observed (second step). A plugin like any other, not a mock of the kernel.
 */
const recordingPlanner: InlinePlugin = {
  manifest: { id: 'planner-recording', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, {
        create: () => ({
          plan: async (request: PlanRequest) => {
            seen.set(request.task.id, {
              ...(request.agent ? { agent: request.agent } : {}),
              tools: request.tools.map((t) => t.name),
            });
            const call = (request.task.input as { call?: string } | null)?.call;
            if (request.step === 1 && call)
              return { kind: 'tools', calls: [{ id: 'c1', tool: call, arguments: { text: 'two words' } }] };
            return { kind: 'final', output: request.history[0]?.calls[0]?.observation ?? 'no call' };
          },
        }),
      });
    },
  }),
};

const tools = toolsPlugin('test-tools', 't', [
  { name: 'count', description: 'counts words', inputSchema: { type: 'object' }, run: () => ({ words: 2 }) },
  { name: 'shout', description: 'upper-cases', inputSchema: { type: 'object' }, run: () => 'TWO WORDS' },
  { name: 'secret', description: 'must not run', inputSchema: { type: 'object' }, run: () => 'leaked' },
]);

async function settle(tasks: TaskService, id: string): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for await (const e of tasks.watch(id)) events.push(e);
  return events;
}

describe('agents', function () {
  let kernel: TestKernel;
  let tasks: TaskService;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: recordingPlanner }, { use: tools }],
      planner: 'planner-scripted',
      agents: {
        counter: {
          description: 'counts words',
          planner: 'planner-recording',
          instructions: 'Count the words about {{ input.topic }} for: {{ goal }}',
          options: { model: 'small', temperature: 0 },
          tools: ['t__count'],
          limits: { maxSteps: 4, timeoutMs: 20_000, maxAttempts: 1 },
          labels: { team: 'text' },
        },
        shouter: {
          planner: 'planner-recording',
          instructions: 'Shout.',
          tools: ['t__sh*'],
        },
        scripted: { tools: ['t__count'] },
      },
      defaultAgent: 'scripted',
    });
    tasks = kernel.get(services.taskService);
  });
  after(() => kernel.stop());

  it('runs two agents side by side, each planner seeing its own instructions, options and tools', async () => {
    const [a, b] = await Promise.all([
      tasks.submit({ goal: 'count them', agent: 'counter', input: { topic: 'otters', call: 't__count' } }),
      tasks.submit({ goal: 'shout them', agent: 'shouter', input: { call: 't__shout' } }),
    ]);
    await Promise.all([settle(tasks, a.task.id), settle(tasks, b.task.id)]);
    expect(seen.get(a.task.id)).to.deep.equal({
      agent: {
        id: 'counter',
        instructions: 'Count the words about otters for: count them',
        options: { model: 'small', temperature: 0 },
      },
      tools: ['t__count'],
    });
    expect(seen.get(b.task.id)).to.deep.equal({
      agent: { id: 'shouter', instructions: 'Shout.', options: {} },
      tools: ['t__shout'],
    });
    expect((await tasks.get(a.task.id)).output).to.deep.equal({ ok: true, output: { words: 2 } });
    expect((await tasks.get(b.task.id)).output).to.deep.equal({ ok: true, output: 'TWO WORDS' });
  });

  it("gives a task its agent's id, planner and limits, which the submission may override", async () => {
    const { task } = await tasks.submit({ goal: 'limits', agent: 'counter', input: { topic: 'x' }, maxSteps: 2 });
    expect(task).to.include({ agent: 'counter', planner: 'planner-recording', maxSteps: 2, timeoutMs: 20_000 });
    expect(task.maxAttempts).to.equal(1);
    await settle(tasks, task.id);
  });

  it('refuses an out-of-scope tool call with TOOL_OUT_OF_SCOPE, records it as the tool_result, and runs nothing', async () => {
    const { task } = await tasks.submit({ goal: 'sneak', agent: 'counter', input: { topic: 'x', call: 't__secret' } });
    const events = await settle(tasks, task.id);
    const result = events.find((e) => e.type === 'tool_result');
    expect(result?.data).to.deep.include({ tool: 't__secret', ok: false });
    const error = (result!.data as { error: { code: string; message: string } }).error;
    expect(error.code).to.equal(ErrorCodes.TOOL_OUT_OF_SCOPE);
    expect(error.message).to.contain("agent 'counter'").and.contain('t__count');
    const done = await tasks.get(task.id);
    expect(JSON.stringify(done.output)).to.not.contain('leaked');
  });

  it('runs the defaultAgent when a task names none: its scope applies to the scripted planner too', async () => {
    const { task } = await tasks.submit({
      goal: 'default',
      input: { plan: [{ tool: 't__secret', arguments: {} }] },
    });
    expect(task.agent).to.equal('scripted');
    const events = await settle(tasks, task.id);
    const result = events.find((e) => e.type === 'tool_result')!;
    expect((result.data as { error?: { code: string } }).error?.code).to.equal(ErrorCodes.TOOL_OUT_OF_SCOPE);
    expect((await tasks.get(task.id)).status).to.equal('failed');
  });

  it('refuses an unknown agent with AGENT_NOT_FOUND naming the known ids', async () => {
    const error = (await tasks.submit({ goal: 'x', agent: 'nobody' }).catch((e) => e)) as OpspawnError;
    expect(error.code).to.equal(ErrorCodes.AGENT_NOT_FOUND);
    expect(error.message).to.contain("'nobody'").and.contain('counter, scripted, shouter');
  });

  it("refuses a submission whose input lacks what the agent's instructions need, naming the template", async () => {
    const error = (await tasks.submit({ goal: 'x', agent: 'counter', input: {} }).catch((e) => e)) as OpspawnError;
    expect(error.code).to.equal(ErrorCodes.TASK_INVALID);
    expect(error.message).to.contain('{{ input.topic }}');
  });

  it('refuses a submission naming an agent and another planner', async () => {
    const error = (await tasks
      .submit({ goal: 'x', agent: 'shouter', planner: 'planner-scripted' })
      .catch((e) => e)) as OpspawnError;
    expect(error.code).to.equal(ErrorCodes.TASK_INVALID);
    expect(error.message).to.contain("agent 'shouter'");
  });

  it('lists the agents through the agents service, without their options or instructions', () => {
    const agents = kernel.get(services.agents);
    expect(agents.list().map((a) => a.id)).to.deep.equal(['counter', 'scripted', 'shouter']);
    expect(agents.get('counter')).to.deep.equal({
      id: 'counter',
      description: 'counts words',
      planner: 'planner-recording',
      memory: 'memory-buffer',
      tools: ['t__count'],
      limits: { maxSteps: 4, timeoutMs: 20_000, maxAttempts: 1 },
      labels: { team: 'text' },
    });
    expect(() => agents.get('nobody'))
      .to.throw()
      .with.property('code', ErrorCodes.AGENT_NOT_FOUND);
  });
});

describe('agents: a deployment that declares none, or no defaultAgent', function () {
  it('runs a task naming no agent unscoped, with every tool', async () => {
    const kernel = await startTestKernel({
      plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: recordingPlanner }, { use: tools }],
      planner: 'planner-recording',
      agents: { counter: { tools: ['t__count'] } },
    });
    try {
      const tasks = kernel.get(services.taskService);
      const { task } = await tasks.submit({ goal: 'all', input: { call: 't__secret' } });
      await settle(tasks, task.id);
      expect(task.agent).to.equal(undefined);
      expect(seen.get(task.id)?.tools).to.deep.equal(['t__count', 't__shout', 't__secret']);
      expect((await tasks.get(task.id)).output).to.deep.equal({ ok: true, output: 'leaked' });
    } finally {
      await kernel.stop();
    }
  });
});

describe('agents in the config', function () {
  it('refuses an agent naming an unknown planner or memory, and a defaultAgent that is no agent, with their paths', async () => {
    const error = await startTestKernel({
      plugins: EMBEDDED_MEMORY_PLUGINS,
      agents: { bad: { planner: 'planner-nope', memory: 'memory-nope', tools: ['t__x'] } },
      defaultAgent: 'ghost',
    }).catch((e) => e);
    const messages = (error.problems as OpspawnError[]).map((p) => `${p.code} ${p.message}`);
    expect(messages).to.have.length(3);
    expect(messages[0]).to.match(/^OPSPAWN_AGENT_INVALID agents\.bad\.planner: .*'planner-nope'.*planner-scripted/);
    expect(messages[1]).to.match(/^OPSPAWN_AGENT_INVALID agents\.bad\.memory: .*'memory-nope'/);
    expect(messages[2]).to.match(/^OPSPAWN_AGENT_INVALID defaultAgent: .*'ghost'.*bad/);
  });

  it('warns at boot, once the tool providers run, of each tool pattern that matches no tool, by its path', async () => {
    const out = new PassThrough();
    let logged = '';
    out.on('data', (b: Buffer) => (logged += b));
    const { kernel } = await bootKernel({
      config: {
        plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: tools }],
        agents: { reader: { tools: ['t__count', 'mcp__github__*', 't__s*'] } },
      },
      logger: createLogger({ level: 'warn', format: 'json', destination: out }),
    });
    await kernel.stop();
    const warnings = logged
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.agent === 'reader');
    expect(warnings.map((w) => w.path)).to.deep.equal(['agents.reader.tools[1]']);
    expect(warnings[0].msg).to.contain("'mcp__github__*' matches no tool").and.contain('t__count');
  });

  it('refuses a tool pattern that is not a name or glob, with its path', async () => {
    const error = await startTestKernel({
      plugins: EMBEDDED_MEMORY_PLUGINS,
      agents: { bad: { tools: ['t__count', 'a b'] } },
    }).catch((e) => e);
    const messages = (error.problems as OpspawnError[]).map((p) => `${p.code} ${p.message}`);
    expect(messages).to.deep.equal([
      `${ErrorCodes.CONFIG_INVALID} agents.bad.tools[1]: must match pattern "^[A-Za-z0-9_*-]+$"`,
    ]);
  });
});
