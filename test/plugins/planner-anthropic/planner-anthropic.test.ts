import { expect } from 'chai';
import { services, type PlanDelta, type PlanRequest, type Task } from '@opspawn/plugin-sdk';
import { plannerContract, sampleTask, startTestKernel } from '@opspawn/testing';
import { AnthropicPlanner, type AnthropicPlannerOptions, wireToolName } from '@opspawn/planner-anthropic';
import { connectionsOpened } from '../../helpers/connections.js';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';
import { API_KEY, MessagesServer, keyOf, text, toolUse } from './messages-server.js';

const server = new MessagesServer();
before(() => server.start());
after(() => server.stop());

const options = (extra: Partial<AnthropicPlannerOptions> = {}): AnthropicPlannerOptions => ({
  baseURL: server.url,
  apiKey: API_KEY,
  model: 'claude-test',
  maxTokens: 1024,
  timeoutMs: 5000,
  maxRetries: 2,
  systemPrompt: 'You are a test agent.',
  headers: {},
  jsonOutput: false,
  ...extra,
});

const addSchema = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } };
const tools = [{ name: 't__add', description: 'adds', inputSchema: addSchema }];

function request(overrides: Partial<PlanRequest> = {}): PlanRequest {
  const task: Task = sampleTask({ goal: 'add 2 and 3', planner: 'planner-anthropic' });
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

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (e: Error) => String(e),
  );

describe('planner-anthropic', function () {
  it('turns tool_use into a tools decision and sends model, system, messages, tools, key and version', async () => {
    server.script({
      blocks: [text('I will ', 'add.'), toolUse('toolu_1', 't__add', '{"a":2,', '"b":3}')],
      usage: { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 30, cache_read_input_tokens: 7 },
    });
    const decision = await new AnthropicPlanner(options()).plan(request());
    expect(decision).to.deep.equal({
      kind: 'tools',
      model: 'claude-test',
      thought: 'I will add.',
      calls: [{ id: 'toolu_1', tool: 't__add', arguments: { a: 2, b: 3 } }],
      // Input counts the cache writes and reads too: 100 + 30 + 7.
      usage: { inputTokens: 137, outputTokens: 20, llmCalls: 1 },
    });
    const sent = server.requests[0]!;
    expect(sent.path).to.equal('/v1/messages');
    expect(keyOf(sent)).to.equal(API_KEY);
    expect(sent.headers['anthropic-version']).to.match(/^\d{4}-\d{2}-\d{2}$/);
    expect(sent.body).to.deep.include({
      model: 'claude-test',
      max_tokens: 1024,
      stream: true,
      system: 'You are a test agent.',
      messages: [{ role: 'user', content: 'add 2 and 3' }],
      tools: [{ name: 't__add', description: 'adds', input_schema: addSchema }],
    });
    expect(sent.body).not.to.have.property('temperature');
  });

  it("uses the task's agent: its model, temperature, maxTokens and instructions as the system prompt", async () => {
    server.script({ blocks: [text('done')] });
    await new AnthropicPlanner(options({ temperature: 0.9 })).plan(
      request({
        agent: {
          id: 'writer',
          instructions: 'You write about otters.',
          options: { model: 'claude-agent-model', temperature: 0.1, maxTokens: 99 },
        },
      }),
    );
    expect(server.requests.at(-1)!.body).to.deep.include({
      model: 'claude-agent-model',
      temperature: 0.1,
      max_tokens: 99,
      system: 'You write about otters.',
    });
  });

  it('sends earlier steps as assistant tool_use and user tool_result blocks with matching ids, one turn per role', async () => {
    server.script({ blocks: [text('The sums are 5 and 9.')], usage: { input_tokens: 50, output_tokens: 8 } });
    const decision = await new AnthropicPlanner(options()).plan(
      request({
        step: 2,
        messages: [
          { role: 'system', content: 'Session note: be brief.' },
          { role: 'user', content: 'add 2 and 3, then 4 and 5' },
          {
            role: 'assistant',
            content: 'Adding both.',
            toolCalls: [
              { id: 'toolu_a', tool: 't__add', arguments: { a: 2, b: 3 } },
              { id: 'toolu_b', tool: 't__add', arguments: { a: 4, b: 5 } },
            ],
          },
          { role: 'tool', toolCallId: 'toolu_a', name: 't__add', content: '{"sum":5}' },
          { role: 'tool', toolCallId: 'toolu_b', name: 't__add', content: '{"sum":9}' },
        ],
      }),
    );
    expect(decision).to.deep.equal({
      kind: 'final',
      model: 'claude-test',
      output: 'The sums are 5 and 9.',
      usage: { inputTokens: 50, outputTokens: 8, llmCalls: 1 },
    });
    const body = server.requests[0]!.body;
    expect(body.system).to.equal('You are a test agent.\n\nSession note: be brief.');
    expect(body.messages).to.deep.equal([
      { role: 'user', content: 'add 2 and 3, then 4 and 5' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Adding both.' },
          { type: 'tool_use', id: 'toolu_a', name: 't__add', input: { a: 2, b: 3 } },
          { type: 'tool_use', id: 'toolu_b', name: 't__add', input: { a: 4, b: 5 } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_a', content: '{"sum":5}' },
          { type: 'tool_result', tool_use_id: 'toolu_b', content: '{"sum":9}' },
        ],
      },
    ]);
  });

  it("leaves out what the memory's window cut in two, which the API would refuse", async () => {
    server.script({ blocks: [text('ok')] });
    await new AnthropicPlanner(options()).plan(
      request({
        messages: [
          // The window starts after the user turn and the call: a dangling assistant turn and an orphan result.
          { role: 'assistant', content: 'Earlier answer.' },
          { role: 'tool', toolCallId: 'toolu_gone', name: 't__add', content: '{"sum":1}' },
          { role: 'user', content: 'first' },
          { role: 'user', content: 'second' },
          // A call whose result was never stored (its attempt stopped while the tool ran).
          { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_lost', tool: 't__add', arguments: {} }] },
        ],
      }),
    );
    expect(server.requests[0]!.body.messages).to.deep.equal([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_lost', name: 't__add', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_lost', is_error: true, content: 'no result was recorded' },
        ],
      },
    ]);
  });

  it('reuses its connections: 100 calls, 20 at a time, open no more than 20', async () => {
    server.script({ blocks: [text('ok')] });
    const planner = new AnthropicPlanner(options());
    const opened = await connectionsOpened(server, () => planner.plan(request()), { tasks: 20, callsEach: 5 });
    expect(server.requests).to.have.length(100);
    expect(opened).to.be.at.most(20);
  });

  it('hands text and tool-argument fragments to onDelta in order, while the answer is still streaming', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    server.script({
      blocks: [text('Let me ', 'add.'), toolUse('toolu_9', 't__add', '{"a":', '2,"b":3}')],
      holdAfterFirstDelta: held,
    });
    const deltas: PlanDelta[] = [];
    const decision = await new AnthropicPlanner(options()).plan(
      request({
        onDelta: (d) => {
          deltas.push(d);
          // The server sends the rest only once the first fragment has arrived here: a planner that waited for
          // the whole answer before calling onDelta would never finish.
          if (deltas.length === 1) release();
        },
      }),
    );
    expect(deltas).to.deep.equal([
      { kind: 'text', text: 'Let me ' },
      { kind: 'text', text: 'add.' },
      { kind: 'tool_arguments', callId: 'toolu_9', tool: 't__add', fragment: '{"a":' },
      { kind: 'tool_arguments', callId: 'toolu_9', tool: 't__add', fragment: '2,"b":3}' },
    ]);
    expect(decision).to.deep.include({ kind: 'tools', thought: 'Let me add.' });
  });

  it('sends tool names the API refuses under a stable short name, and maps calls back to the real tool', async () => {
    const long = `mcp__${'filesystem_'.repeat(6)}read.file`;
    const wire = wireToolName(long);
    expect(wire).to.match(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(wire).to.equal(wireToolName(long), 'the same in every request');
    expect(wireToolName(`${long}2`)).not.to.equal(wire, 'names sharing a beginning stay apart');
    expect(wireToolName('js__calculate')).to.equal('js__calculate', 'names that fit are sent as they are');
    server.script({ blocks: [toolUse('toolu_l', wire, '{}'), toolUse('toolu_m', 'made_up', '{not json')] });
    const decision = await new AnthropicPlanner(options()).plan(
      request({
        tools: [{ name: long, description: 'reads', inputSchema: { type: 'object' } }],
        messages: [
          { role: 'user', content: 'read it' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_0', tool: long, arguments: { path: 'a' } }] },
          { role: 'tool', toolCallId: 'toolu_0', name: long, content: 'A' },
        ],
      }),
    );
    const body = server.requests[0]!.body;
    expect(body.tools.map((t: { name: string }) => t.name)).to.deep.equal([wire]);
    expect(body.messages[1].content[0].name).to.equal(wire);
    // The real name goes to the registry; a made-up one is passed on (the registry answers TOOL_NOT_FOUND), and
    // arguments that are not JSON go on as text for the schema check to explain.
    expect(decision).to.deep.include({
      kind: 'tools',
      calls: [
        { id: 'toolu_l', tool: long, arguments: {} },
        { id: 'toolu_m', tool: 'made_up', arguments: '{not json' },
      ],
    });
  });

  it('retries 429 (honouring retry-after) and 529 overloaded, then succeeds', async () => {
    server.script(
      { status: 429, headers: { 'retry-after': '0' }, error: { type: 'rate_limit_error', message: 'slow down' } },
      { status: 529, headers: { 'retry-after': '0' }, error: { type: 'overloaded_error', message: 'Overloaded' } },
      { blocks: [text('done')] },
    );
    expect(await new AnthropicPlanner(options({ maxRetries: 3 })).plan(request())).to.deep.include({
      kind: 'final',
      output: 'done',
    });
    expect(server.requests).to.have.length(3);
  });

  it('fails with the status and a hint once retries are spent, and does not retry 401 or 404', async () => {
    server.script({
      status: 529,
      headers: { 'retry-after': '0' },
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    expect(await failureOf(new AnthropicPlanner(options({ maxRetries: 1 })).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_FAILED: messages at .* failed \(HTTP 529\): .*Overloaded.*\(fix: the API is busy or overloaded; raise maxRetries or try later\)$/,
    );
    expect(server.requests).to.have.length(2);

    server.script({ blocks: [text('never reached')] });
    expect(await failureOf(new AnthropicPlanner(options({ apiKey: 'sk-ant-wrong' })).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_FAILED: .*\(HTTP 401\): .*invalid x-api-key.*\(fix: check apiKey\)$/,
    );
    expect(server.requests).to.have.length(1);

    server.script({ status: 404, error: { type: 'not_found_error', message: 'model: claude-nope' } });
    expect(await failureOf(new AnthropicPlanner(options()).plan(request()))).to.match(
      /\(HTTP 404\): .*model: claude-nope.*\(fix: check baseURL and model\)$/,
    );
    expect(server.requests).to.have.length(1);
  });

  it('says so when no apiKey is configured, without calling the API', async () => {
    server.script({ blocks: [text('never reached')] });
    expect(await failureOf(new AnthropicPlanner(options({ apiKey: '' })).plan(request()))).to.equal(
      "OPSPAWN_PLANNER_FAILED: planner-anthropic has no apiKey (fix: set the plugin's apiKey option, e.g. apiKey: '${ANTHROPIC_API_KEY}')",
    );
    expect(server.requests).to.have.length(0);
  });

  it('fails on an error event in the middle of the stream', async () => {
    server.script({ blocks: [text('partial')], errorMidStream: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(await failureOf(new AnthropicPlanner(options()).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_FAILED: messages at .* failed: .*Overloaded/,
    );
  });

  it('fails when the connection closes in the middle of the stream, rather than deciding on half a message', async () => {
    server.script({ blocks: [text('The answer is 4', '2.')], dropMidStream: true });
    expect(await failureOf(new AnthropicPlanner(options()).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_FAILED: messages at .* failed: the stream ended before message_stop/,
    );
  });

  it('refuses an answer with neither text nor tool use, and tool use cut off at max_tokens', async () => {
    server.script({ blocks: [], stopReason: 'refusal' });
    expect(await failureOf(new AnthropicPlanner(options()).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_INVALID_DECISION: the model answered with neither text nor tool use \(stop_reason refusal\)/,
    );
    server.script({ blocks: [toolUse('toolu_c', 't__add', '{"a":')], stopReason: 'max_tokens' });
    expect(await failureOf(new AnthropicPlanner(options()).plan(request()))).to.match(
      /^OPSPAWN_PLANNER_INVALID_DECISION: the model's tool use was cut off at max_tokens \(fix: raise maxTokens/,
    );
  });

  it('parses a JSON final answer when jsonOutput is on', async () => {
    server.script({ blocks: [text('```json\n{"sum":', ' 5}\n```')] });
    expect(await new AnthropicPlanner(options({ jsonOutput: true })).plan(request())).to.deep.include({
      kind: 'final',
      output: { sum: 5 },
    });
  });

  it('aborts an in-flight request when the signal aborts', async () => {
    server.script({ hang: true });
    const controller = new AbortController();
    const pending = new AnthropicPlanner(options()).plan(request({ signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('task cancelled')), 50);
    expect(await failureOf(pending)).to.contain('task cancelled');
  });

  it('aborts a stream that has started when the signal aborts', async () => {
    const controller = new AbortController();
    server.script({ blocks: [text('one ', 'two')], holdAfterFirstDelta: new Promise(() => {}) });
    const pending = new AnthropicPlanner(options()).plan(
      request({ signal: controller.signal, onDelta: () => controller.abort(new Error('task cancelled')) }),
    );
    expect(await failureOf(pending)).to.contain('task cancelled');
  });

  it('drives a task end to end in a kernel: a tool call, then the final answer, with the tokens each step used', async () => {
    server.script(
      {
        blocks: [toolUse('toolu_1', 't__add', '{"a":2,"b":3}')],
        usage: { input_tokens: 120, output_tokens: 17, cache_read_input_tokens: 80 },
      },
      { blocks: [text('The sum ', 'is 5.')], usage: { input_tokens: 160, output_tokens: 9 } },
    );
    const kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        {
          use: '@opspawn/planner-anthropic',
          options: { baseURL: server.url, apiKey: API_KEY, model: 'claude-test', maxRetries: 0 },
        },
        {
          use: toolsPlugin('adder', 't', [
            { name: 'add', description: 'adds', inputSchema: { type: 'object' }, run: ({ a, b }) => ({ sum: a + b }) },
          ]),
        },
      ],
      planner: 'planner-anthropic',
    });
    try {
      const tasks = kernel.get(services.taskService);
      const { task } = await tasks.submit({ goal: 'add 2 and 3' });
      const events = [];
      for await (const e of tasks.watch(task.id)) events.push(e);
      const done = await tasks.get(task.id);
      expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
      expect(done.output).to.equal('The sum is 5.');
      expect(done.usage, 'the task total').to.deep.equal({ inputTokens: 360, outputTokens: 26, llmCalls: 2 });
      const perStep = events.flatMap((e) => (e.type === 'plan' || e.type === 'final' ? [[e.type, e.data.usage]] : []));
      expect(perStep, 'each step').to.deep.equal([
        ['plan', { inputTokens: 200, outputTokens: 17, llmCalls: 1 }],
        ['final', { inputTokens: 160, outputTokens: 9, llmCalls: 1 }],
      ]);
      expect(server.requests[1]!.body.messages.slice(1)).to.deep.equal([
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 't__add', input: { a: 2, b: 3 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"sum":5}' }] },
      ]);
    } finally {
      await kernel.stop();
    }
  });
});

describe('planner-anthropic against the planner contract', function () {
  beforeEach(() => server.script({ blocks: [text('final answer')] }));
  plannerContract('planner-anthropic', async () => ({ planner: new AnthropicPlanner(options()) }), { input: null });
});
