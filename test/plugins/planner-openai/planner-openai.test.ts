import { expect } from 'chai';
import { services, type PlanDelta, type PlanRequest, type Task } from '@opspawn/plugin-sdk';
import { plannerContract, sampleTask, startTestKernel } from '@opspawn/testing';
import { OpenAIPlanner, type OpenAIPlannerOptions } from '@opspawn/planner-openai';
import { parseToolArguments as parseArguments } from '@opspawn/plugin-sdk';
import { connectionsOpened } from '../../helpers/connections.js';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';
import { ChatServer, completion } from './chat-server.js';

const server = new ChatServer();
before(() => server.start());
after(() => server.stop());

const options = (extra: Partial<OpenAIPlannerOptions> = {}): OpenAIPlannerOptions => ({
  baseURL: server.url,
  apiKey: 'sk-test',
  model: 'test-model',
  timeoutMs: 5000,
  maxRetries: 2,
  systemPrompt: 'You are a test agent.',
  headers: { 'x-title': 'opspawn-tests' },
  jsonOutput: false,
  ...extra,
});

const tools = [
  {
    name: 't__add',
    description: 'adds',
    inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
  },
];

function request(overrides: Partial<PlanRequest> = {}): PlanRequest {
  const task: Task = sampleTask({ goal: 'add 2 and 3', planner: 'planner-openai' });
  return {
    task,
    messages: [{ role: 'user', content: task.goal }],
    tools,
    step: 1,
    history: [],
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('planner-openai', function () {
  it('turns tool calls into a tools decision and sends model, system prompt, messages and tools', async () => {
    server.script({
      body: completion({
        content: 'I will add.',
        tool_calls: [{ id: 'call_a', name: 't__add', arguments: '{"a":2,"b":3}' }],
      }),
    });
    const decision = await new OpenAIPlanner(options()).plan(request());
    expect(decision).to.deep.equal({
      kind: 'tools',
      model: 'test-model',
      thought: 'I will add.',
      calls: [{ id: 'call_a', tool: 't__add', arguments: { a: 2, b: 3 } }],
      usage: { inputTokens: 10, outputTokens: 5, llmCalls: 1 },
    });
    const sent = server.requests[0]!;
    expect(sent.path).to.equal('/v1/chat/completions');
    expect(sent.auth).to.equal('Bearer sk-test');
    expect(sent.body.model).to.equal('test-model');
    expect(sent.body.messages).to.deep.equal([
      { role: 'system', content: 'You are a test agent.' },
      { role: 'user', content: 'add 2 and 3' },
    ]);
    expect(sent.body.tools).to.deep.equal([
      { type: 'function', function: { name: 't__add', description: 'adds', parameters: tools[0]!.inputSchema } },
    ]);
  });

  it("uses the task's agent: its model, temperature and instructions as the system message", async () => {
    server.script({ body: completion({ content: 'done' }) });
    await new OpenAIPlanner(options({ temperature: 0.9 })).plan(
      request({
        agent: {
          id: 'writer',
          instructions: 'You write about otters.',
          options: { model: 'agent-model', temperature: 0.1 },
        },
      }),
    );
    const sent = server.requests.at(-1)!;
    expect(sent.body.model).to.equal('agent-model');
    expect(sent.body.temperature).to.equal(0.1);
    expect(sent.body.messages[0]).to.deep.equal({ role: 'system', content: 'You write about otters.' });
  });

  it('sends earlier steps as assistant tool calls and tool messages with matching ids', async () => {
    server.script({ body: completion({ content: 'The sum is 5.' }, 'stop', null) });
    const decision = await new OpenAIPlanner(options()).plan(
      request({
        step: 2,
        messages: [
          { role: 'user', content: 'add 2 and 3' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'call_a', tool: 't__add', arguments: { a: 2, b: 3 } }] },
          { role: 'tool', toolCallId: 'call_a', name: 't__add', content: '{"sum":5}' },
        ],
      }),
    );
    expect(decision).to.deep.equal({ kind: 'final', output: 'The sum is 5.', model: 'test-model' });
    expect(server.requests[0]!.body.messages.slice(2)).to.deep.equal([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_a', type: 'function', function: { name: 't__add', arguments: '{"a":2,"b":3}' } }],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"sum":5}' },
    ]);
  });

  it('retries 429 (honouring Retry-After) and 5xx, then succeeds', async () => {
    server.script(
      { status: 429, headers: { 'retry-after': '0' }, body: { error: { message: 'slow down' } } },
      { status: 500, body: { error: { message: 'oops' } } },
      { body: completion({ content: 'done' }, 'stop', null) },
    );
    expect(await new OpenAIPlanner(options({ maxRetries: 3 })).plan(request())).to.deep.equal({
      kind: 'final',
      model: 'test-model',
      output: 'done',
    });
    expect(server.requests).to.have.length(3);
  });

  it('does not retry a 401 and says to check the key', async () => {
    server.script({ status: 401, body: { error: { message: 'bad key' } } });
    const error = await new OpenAIPlanner(options()).plan(request()).catch((e: Error) => e);
    expect(String(error)).to.match(
      /^OPSPAWN_PLANNER_FAILED: chat completion at .* failed \(HTTP 401\): .*\(fix: check apiKey\)$/,
    );
    expect(server.requests).to.have.length(1);
  });

  it('handles arguments as models really send them', async () => {
    expect(parseArguments('{"a":1}')).to.deep.equal({ a: 1 });
    expect(parseArguments('"{\\"a\\":1}"')).to.deep.equal({ a: 1 });
    expect(parseArguments('')).to.deep.equal({});
    expect(parseArguments('{a: 1')).to.equal('{a: 1');
    server.script({
      body: completion(
        {
          tool_calls: [
            { id: '', name: 't__add', arguments: '{not json' },
            { name: 'made_up', arguments: '{}' },
          ],
        },
        'tool_calls',
        null,
      ),
    });
    const decision = await new OpenAIPlanner(options()).plan(request({ step: 4 }));
    expect(decision).to.deep.equal({
      kind: 'tools',
      model: 'test-model',
      calls: [
        { id: 'call_4_0', tool: 't__add', arguments: '{not json' },
        { id: 'call_1', tool: 'made_up', arguments: {} },
      ],
    });
  });

  it('refuses an answer with no choices, or with neither content nor tool calls', async () => {
    server.script({ body: { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] } });
    expect(String(await new OpenAIPlanner(options()).plan(request()).catch((e: Error) => e))).to.match(
      /^OPSPAWN_PLANNER_INVALID_DECISION: the model answered with no choices/,
    );
    server.script({ body: completion({ content: null }, 'length') });
    expect(String(await new OpenAIPlanner(options()).plan(request()).catch((e: Error) => e))).to.contain(
      'neither content nor tool calls (finish_reason length)',
    );
  });

  it('parses a JSON final answer when jsonOutput is on', async () => {
    server.script({ body: completion({ content: '```json\n{"sum": 5}\n```' }, 'stop', null) });
    expect(await new OpenAIPlanner(options({ jsonOutput: true })).plan(request())).to.deep.equal({
      kind: 'final',
      model: 'test-model',
      output: { sum: 5 },
    });
  });

  it('aborts an in-flight request when the signal aborts', async () => {
    server.script({ hang: true });
    const controller = new AbortController();
    const pending = new OpenAIPlanner(options()).plan(request({ signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('task cancelled')), 50);
    const error = await pending.catch((e: Error) => e);
    expect(String(error)).to.contain('task cancelled');
  });

  it('streams: hands the text to onDelta piece by piece as it arrives and returns the same decision', async () => {
    server.script({ body: completion({ content: 'The sum of 2 and 3 is 5.' }) });
    const deltas: PlanDelta[] = [];
    const decision = await new OpenAIPlanner(options()).plan(request({ onDelta: (d) => deltas.push(d) }));
    expect(decision).to.deep.equal({
      kind: 'final',
      model: 'test-model',
      output: 'The sum of 2 and 3 is 5.',
      usage: { inputTokens: 10, outputTokens: 5, llmCalls: 1 },
    });
    expect(deltas.length, 'several fragments').to.be.greaterThan(2);
    expect(deltas.every((d) => d.kind === 'text')).to.equal(true);
    expect(deltas.map((d) => (d.kind === 'text' ? d.text : '')).join('')).to.equal('The sum of 2 and 3 is 5.');
    const sent = server.requests[0]!.body;
    expect(sent.stream).to.equal(true);
    expect(sent.stream_options).to.deep.equal({ include_usage: true });
  });

  it('streams tool-call arguments per call and assembles each call from its fragments', async () => {
    server.script({
      body: completion({
        content: 'Adding twice.',
        tool_calls: [
          { id: 'call_a', name: 't__add', arguments: '{"a": 2, "b": 3}' },
          { id: 'call_b', name: 't__add', arguments: '{"a": 40, "b": 2}' },
        ],
      }),
    });
    const deltas: PlanDelta[] = [];
    const decision = await new OpenAIPlanner(options()).plan(request({ onDelta: (d) => deltas.push(d) }));
    expect(decision).to.deep.equal({
      kind: 'tools',
      model: 'test-model',
      thought: 'Adding twice.',
      calls: [
        { id: 'call_a', tool: 't__add', arguments: { a: 2, b: 3 } },
        { id: 'call_b', tool: 't__add', arguments: { a: 40, b: 2 } },
      ],
      usage: { inputTokens: 10, outputTokens: 5, llmCalls: 1 },
    });
    const argumentsOf = (callId: string) =>
      deltas.flatMap((d) => (d.kind === 'tool_arguments' && d.callId === callId ? [d] : []));
    expect(argumentsOf('call_a').length).to.be.greaterThan(1);
    expect(
      argumentsOf('call_a')
        .map((d) => d.fragment)
        .join(''),
    ).to.equal('{"a": 2, "b": 3}');
    expect(
      argumentsOf('call_b')
        .map((d) => d.fragment)
        .join(''),
    ).to.equal('{"a": 40, "b": 2}');
    expect(argumentsOf('call_b').every((d) => d.tool === 't__add')).to.equal(true);
  });

  it('takes a stream without usage (a server that sends none): no usage, no error', async () => {
    server.script({ body: completion({ content: 'done' }, 'stop', null) });
    expect(await new OpenAIPlanner(options()).plan(request({ onDelta: () => undefined }))).to.deep.equal({
      kind: 'final',
      model: 'test-model',
      output: 'done',
    });
    expect(server.requests[0]!.body.stream).to.equal(true);
  });

  it('with stream: false asks for whole completions, as servers that cannot stream need', async () => {
    server.script({
      body: completion({ tool_calls: [{ id: 'call_a', name: 't__add', arguments: '{"a":2,"b":3}' }] }),
    });
    const deltas: PlanDelta[] = [];
    const decision = await new OpenAIPlanner(options({ stream: false })).plan(
      request({ onDelta: (d) => deltas.push(d) }),
    );
    expect(decision).to.deep.equal({
      kind: 'tools',
      model: 'test-model',
      calls: [{ id: 'call_a', tool: 't__add', arguments: { a: 2, b: 3 } }],
      usage: { inputTokens: 10, outputTokens: 5, llmCalls: 1 },
    });
    expect(server.requests[0]!.body).to.not.have.property('stream');
    expect(deltas).to.deep.equal([]);
  });

  it('aborts a stream in the middle when the signal aborts', async () => {
    const never = new Promise(() => undefined);
    server.script({ body: completion({ content: 'A long answer that will not finish.' }), holdLast: never });
    const controller = new AbortController();
    const error = await new OpenAIPlanner(options())
      .plan(request({ signal: controller.signal, onDelta: () => controller.abort(new Error('task cancelled')) }))
      .catch((e: Error) => e);
    expect(String(error)).to.contain('task cancelled');
  });

  it('reuses its connections: 100 calls, 20 at a time, open no more than 20', async () => {
    server.script({ body: completion({ content: 'ok' }) });
    const planner = new OpenAIPlanner(options());
    const opened = await connectionsOpened(server, () => planner.plan(request()), { tasks: 20, callsEach: 5 });
    expect(server.requests).to.have.length(100);
    expect(opened).to.be.at.most(20);
  });

  it('drives a task end to end in a kernel: a tool call, then the final answer, with the tokens each step used', async () => {
    server.script(
      {
        body: completion({ tool_calls: [{ id: 'call_1', name: 't__add', arguments: '{"a":2,"b":3}' }] }, 'tool_calls', {
          prompt_tokens: 120,
          completion_tokens: 17,
        }),
      },
      { body: completion({ content: 'The sum is 5.' }, 'stop', { prompt_tokens: 160, completion_tokens: 9 }) },
    );
    const kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/planner-openai', options: { baseURL: server.url, model: 'test-model', maxRetries: 0 } },
        {
          use: toolsPlugin('adder', 't', [
            { name: 'add', description: 'adds', inputSchema: { type: 'object' }, run: ({ a, b }) => ({ sum: a + b }) },
          ]),
        },
      ],
      planner: 'planner-openai',
    });
    const tasks = kernel.get(services.taskService);
    const { task } = await tasks.submit({ goal: 'add 2 and 3' });
    const events = [];
    for await (const e of tasks.watch(task.id)) events.push(e);
    const done = await tasks.get(task.id);
    expect(done.status).to.equal('succeeded');
    expect(done.output).to.equal('The sum is 5.');
    expect(done.usage, 'the task total').to.deep.equal({ inputTokens: 280, outputTokens: 26, llmCalls: 2 });
    const perStep = events.flatMap((e) => (e.type === 'plan' || e.type === 'final' ? [[e.type, e.data.usage]] : []));
    expect(perStep, 'each step').to.deep.equal([
      ['plan', { inputTokens: 120, outputTokens: 17, llmCalls: 1 }],
      ['final', { inputTokens: 160, outputTokens: 9, llmCalls: 1 }],
    ]);
    expect(server.requests[1]!.body.messages.at(-1)).to.deep.equal({
      role: 'tool',
      tool_call_id: 'call_1',
      content: '{"sum":5}',
    });
    await kernel.stop();
  });
});

describe('planner-openai against the planner contract', function () {
  beforeEach(() => server.script({ body: completion({ content: 'final answer' }) }));
  plannerContract('planner-openai', async () => ({ planner: new OpenAIPlanner(options()) }), { input: null });
});
