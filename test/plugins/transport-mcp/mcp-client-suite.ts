import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { InlinePlugin } from '@opspawn/plugin-sdk';
import { toolsPlugin } from '../../helpers/inline-plugins.js';
import { until } from '../../helpers/until.js';

export const KEYS = { admin: 'mcp-admin-key-123', reader: 'mcp-reader-key-456' };
export const API_KEYS = [
  { key: KEYS.admin, name: 'admin', scopes: ['admin'] },
  { key: KEYS.reader, name: 'reader', scopes: ['read'] },
];
/** What both transports are configured with in these suites, so the long-task cases take a second, not 50. */
export const WAIT_LIMIT_MS = 1000;

/**
 * The agents both hosts declare: each is a tool `agent_<id>`; the suites hide `hidden` (HTTP: the `tools` option,
 * stdio: `--tools`) where they check that hiding works.
 */
export const AGENTS = {
  adder: { description: 'Adds numbers with the t tools.', tools: ['t__*'] },
  hidden: { description: 'Not for MCP clients.', tools: ['t__add'] },
  careful: { description: 'Adds, once a person approves.', tools: ['t__*'], approval: { t__add: 'always' as const } },
};
export const TASK_TOOLS = ['submit_task', 'run_task', 'get_task', 'list_tasks', 'cancel_task'];

/** `t__add` answers at once; `t__wait` waits `ms` unless its task is cancelled. */
export const TEST_TOOLS: InlinePlugin = toolsPlugin('t', 't', [
  {
    name: 'add',
    description: 'adds',
    inputSchema: { type: 'object', required: ['a', 'b'] },
    run: ({ a, b }) => ({ sum: a + b }),
  },
  {
    name: 'wait',
    description: 'waits',
    inputSchema: { type: 'object', required: ['ms'] },
    run: ({ ms }, ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ waited: ms }), ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason ?? new Error('aborted'));
        });
      }),
  },
]);

const twoSteps = {
  goal: 'add twice',
  input: {
    plan: [
      { tool: 't__add', arguments: { a: 1, b: 2 } },
      { tool: 't__add', arguments: { a: '{{ steps[0].output.sum }}', b: 4 } },
    ],
    final: '{{ steps[1].output.sum }}',
  },
};
const waiting = (ms: number) => ({ goal: `wait ${ms}`, input: { plan: [{ tool: 't__wait', arguments: { ms } }] } });

const structured = (r: unknown) => (r as CallToolResult).structuredContent as any;
const text = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text;

/**
 * What an MCP client sees of the host, whatever the transport: the same specifications run over Streamable HTTP
 * (the plugin) and stdio (`opspawn mcp`), each with the SDK's own client. `connect(key)` opens a client with that key.
 */
export function mcpClientSpecs(connect: (key: string | undefined) => Promise<Client>): void {
  let admin: Client;
  before(async () => {
    admin = await connect(KEYS.admin);
  });
  after(() => admin?.close());

  const status = async (id: string) => structured(await admin.callTool({ name: 'get_task', arguments: { id } })).task;

  it('lists the task tools with their input and output schemas', async () => {
    const { tools } = await admin.listTools();
    expect(tools.map((t) => t.name).filter((name) => !name.startsWith('agent_'))).to.deep.equal(TASK_TOOLS);
    const run = tools.find((t) => t.name === 'run_task')!;
    expect(run.inputSchema.required).to.deep.equal(['goal']);
    expect(run.inputSchema.properties).to.have.property('idempotencyKey');
    expect(run.outputSchema!.properties).to.have.keys('task', 'error');
    expect(tools.find((t) => t.name === 'get_task')!.annotations).to.include({ readOnlyHint: true });
  });

  it('runs a task and waits for its answer, with a progress notification per step', async () => {
    const progress: Array<{ progress: number; message?: string }> = [];
    const result = await admin.callTool({ name: 'run_task', arguments: twoSteps }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(result.isError, text(result)).to.equal(undefined);
    expect(structured(result).task).to.include({ status: 'succeeded', output: 7 });
    const messages = progress.map((p) => p.message);
    expect(messages).to.include.members(['step 1: calling t__add', 'step 2: calling t__add', 'final answer']);
    expect(messages.at(-1)).to.equal('succeeded (attempt 1)');
    const numbers = progress.map((p) => p.progress);
    expect(numbers).to.deep.equal([...numbers].sort((a, b) => a - b));
  });

  it("lists one tool per agent, agent_<id>, described by the agent's description, taking a goal and an input", async () => {
    const { tools } = await admin.listTools();
    const adder = tools.find((t) => t.name === 'agent_adder')!;
    expect(adder, 'agent_adder').to.exist;
    expect(adder.description).to.match(/^Adds numbers with the t tools\. Runs a task of agent 'adder'/);
    expect(adder.inputSchema.required).to.deep.equal(['goal']);
    expect(adder.inputSchema.properties).to.have.keys('goal', 'input');
    expect(adder.outputSchema!.properties).to.have.keys('task', 'error');
  });

  it('runs a task of the agent and answers with its output, with a progress notification per step', async () => {
    const progress: string[] = [];
    const result = await admin.callTool({ name: 'agent_adder', arguments: twoSteps }, undefined, {
      onprogress: (p) => progress.push(p.message ?? ''),
    });
    expect(result.isError, text(result)).to.equal(undefined);
    const task = structured(result).task;
    expect(task).to.include({ status: 'succeeded', output: 7, agent: 'adder' });
    expect(text(result)).to.equal(`7\n(task ${task.id}, succeeded)`);
    expect(progress).to.include.members(['step 1: calling t__add', 'step 2: calling t__add']);
    expect(await status(task.id)).to.include({ agent: 'adder', goal: 'add twice' });
  });

  it('returns a task waiting for approval at once, saying how a person decides it', async () => {
    const result = await admin.callTool({ name: 'agent_careful', arguments: twoSteps });
    expect(result.isError).to.equal(undefined);
    const task = structured(result).task;
    expect(task).to.include({ status: 'waiting_approval', agent: 'careful' });
    expect(text(result)).to.match(/waits for a person to approve a tool call/);
    expect(text(result)).to.contain(`POST /v1/tasks/${task.id}/approvals/<callId>`);
    await admin.callTool({ name: 'cancel_task', arguments: { id: task.id } });
  });

  it('returns a long agent task still running after the wait limit, and refuses arguments besides goal and input', async () => {
    const started = Date.now();
    const result = await admin.callTool({ name: 'agent_adder', arguments: waiting(20_000) });
    expect(Date.now() - started).to.be.within(WAIT_LIMIT_MS, WAIT_LIMIT_MS + 3000);
    const task = structured(result).task;
    expect(task).to.include({ status: 'running', agent: 'adder' });
    await admin.callTool({ name: 'cancel_task', arguments: { id: task.id } });
    const refused = await admin.callTool({ name: 'agent_adder', arguments: { goal: 'x', planner: 'other' } });
    expect(structured(refused).error.code).to.equal('OPSPAWN_INVALID_REQUEST');
  });

  it('returns a long task still running after the wait limit, instead of holding the call', async () => {
    const started = Date.now();
    const result = await admin.callTool({ name: 'run_task', arguments: waiting(20_000) });
    expect(Date.now() - started).to.be.within(WAIT_LIMIT_MS, WAIT_LIMIT_MS + 3000);
    const task = structured(result).task;
    expect(task.status).to.equal('running');
    expect(text(result)).to.contain(`opspawn://tasks/${task.id}`);
    await admin.callTool({ name: 'cancel_task', arguments: { id: task.id } });
  });

  it('cancels the task when the client cancels the call (notifications/cancelled)', async () => {
    const call = new AbortController();
    const pending = admin.callTool({ name: 'run_task', arguments: waiting(20_000) }, undefined, {
      signal: call.signal,
      onprogress: (p) => {
        if (p.message === 'step 1: t__wait called') call.abort('the user pressed stop');
      },
    });
    await pending.catch(() => undefined);
    expect(call.signal.aborted).to.equal(true);
    const listed = structured(await admin.callTool({ name: 'list_tasks', arguments: { limit: 1 } })).tasks;
    const id: string = listed[0].id;
    const cancelled = await until('the task to end', async () => {
      const task = await status(id);
      return task.status === 'running' || task.status === 'queued' ? undefined : task;
    });
    expect(cancelled.status).to.equal('cancelled');
    expect(cancelled.error.code).to.equal('OPSPAWN_TASK_CANCELLED');
  });

  it('submits, lists, gets and cancels with the other tools', async () => {
    const submitted = structured(
      await admin.callTool({ name: 'submit_task', arguments: { ...waiting(20_000), labels: { suite: 'mcp' } } }),
    ).task;
    expect(submitted.status).to.equal('queued');
    expect(submitted).not.to.have.property('requestHash');
    const page = structured(await admin.callTool({ name: 'list_tasks', arguments: { labels: { suite: 'mcp' } } }));
    expect(page.tasks.map((t: any) => t.id)).to.include(submitted.id);
    const cancelled = await admin.callTool({ name: 'cancel_task', arguments: { id: submitted.id } });
    expect(text(cancelled)).to.match(new RegExp(`^${submitted.id} (cancelled|running)`));
  });

  it('answers a refusal with isError, the Opspawn code and the fix', async () => {
    const missing = await admin.callTool({ name: 'get_task', arguments: { id: 'task_00000000000000000000000000' } });
    expect(missing.isError).to.equal(true);
    expect(structured(missing).error).to.include({ code: 'OPSPAWN_TASK_NOT_FOUND' });
    expect(text(missing)).to.match(/^OPSPAWN_TASK_NOT_FOUND: .* \(fix: .+\)$/);
    const invalid = await admin.callTool({ name: 'submit_task', arguments: { goal: '', extra: 1 } });
    expect(structured(invalid).error.code).to.equal('OPSPAWN_TASK_INVALID');
    const badFilter = await admin.callTool({ name: 'list_tasks', arguments: { status: ['nope'] } });
    expect(structured(badFilter).error.code).to.equal('OPSPAWN_INVALID_REQUEST');
  });

  it('serves a task and its events as the resource opspawn://tasks/{id}, with updates to subscribers', async () => {
    const { resourceTemplates } = await admin.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).to.deep.equal(['opspawn://tasks/{id}']);
    const updates: string[] = [];
    admin.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    const task = structured(await admin.callTool({ name: 'submit_task', arguments: waiting(400) })).task;
    const uri = `opspawn://tasks/${task.id}`;
    await admin.subscribeResource({ uri });
    await until('the task to succeed', async () => ((await status(task.id)).status === 'succeeded' ? true : undefined));
    await until('the final update', async () => (updates.length >= 3 ? true : undefined));
    expect(new Set(updates)).to.deep.equal(new Set([uri]));
    const read = await admin.readResource({ uri });
    expect(read.contents[0]).to.include({ uri, mimeType: 'application/json' });
    const body = JSON.parse((read.contents[0] as { text: string }).text);
    expect(body.task).to.include({ id: task.id, status: 'succeeded' });
    expect(body.events.map((e: any) => e.type)).to.include.members([
      'status',
      'plan',
      'tool_call',
      'tool_result',
      'final',
    ]);
    const listed = await admin.listResources();
    expect(listed.resources.map((r) => r.uri)).to.include(uri);
    const error = (await admin.readResource({ uri: 'opspawn://tasks/nope' }).catch((e: unknown) => e)) as any;
    expect(error.code).to.equal(-32002);
    expect(error.data).to.include({ code: 'OPSPAWN_TASK_NOT_FOUND' });
  });

  it('stops updating after unsubscribe', async () => {
    const updates: string[] = [];
    admin.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    const task = structured(await admin.callTool({ name: 'submit_task', arguments: waiting(20_000) })).task;
    const uri = `opspawn://tasks/${task.id}`;
    await admin.subscribeResource({ uri });
    await admin.unsubscribeResource({ uri });
    const seen = updates.length;
    await admin.callTool({ name: 'cancel_task', arguments: { id: task.id } });
    await until('the task to end', async () => ((await status(task.id)).status === 'cancelled' ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    expect(updates.length).to.equal(seen);
  });
}
