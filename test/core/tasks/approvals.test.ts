import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { RestClient } from '@opspawn/core';
import type { Task, TaskEvent } from '@opspawn/plugin-sdk';
import redis from 'redis';
import { deleteRedisKeys } from '../../helpers/cluster.js';
import { Deployment, runCli } from '../../helpers/deployment.js';
import { REDIS_URL, requireService } from '../../helpers/services.js';
import { until } from '../../helpers/until.js';

/** POSTs a decision as any HTTP client would; returns the status and the JSON body. */
async function decide(url: string, id: string, callId: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/v1/tasks/${id}/approvals/${callId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('step checkpoints and approvals of tool calls (embedded host, SQLite, a real `opspawn start`)', function () {
  this.timeout(90_000);
  let d: Deployment;
  let host: ChildProcess | undefined;
  let url: string;
  let api: RestClient;

  /** The tool calls the counting tools recorded, as `tool taskId step key repeat arguments`. */
  const calls = (taskId: string, tool?: string) =>
    (existsSync(d.recordFile) ? readFileSync(d.recordFile, 'utf8') : '')
      .split('\n')
      .filter((line) => line.includes(` ${taskId} `) && (!tool || line.startsWith(`${tool} `)));
  const events = async (id: string): Promise<TaskEvent[]> =>
    ((await (await fetch(`${url}/v1/tasks/${id}/events?limit=1000`)).json()) as { events: TaskEvent[] }).events;
  const settled = (id: string) =>
    until(`task ${id} to end`, async () => {
      const t = await api.get(id);
      return ['succeeded', 'failed', 'cancelled'].includes(t.status) ? t : undefined;
    });
  const waiting = (id: string) =>
    until(`task ${id} to wait for approval`, async () => {
      const t = await api.get(id);
      return t.status === 'waiting_approval' ? t : undefined;
    });

  async function restart(): Promise<void> {
    if (host) {
      host.kill('SIGKILL');
      await new Promise((r) => host!.once('exit', r));
    }
    ({ host, url } = await d.start({ RECORD_FILE: d.recordFile }));
    api = new RestClient({ url });
  }

  /** Session memory lives in Redis, so what each attempt appended survives the host's SIGKILL and can be read. */
  const memoryPrefix = `approvals-test-${process.pid}-${Date.now().toString(36)}:`;
  const memoryRoles = async (sessionId: string): Promise<string[]> => {
    const client = redis.createClient(REDIS_URL, { retry_strategy: () => undefined });
    try {
      const raw = await new Promise<string[]>((resolve, reject) =>
        client.lrange(`${memoryPrefix}${sessionId}:messages`, 0, -1, (e, r) => (e ? reject(e) : resolve(r))),
      );
      return raw.map((m) => (JSON.parse(m) as { role: string }).role);
    } finally {
      client.quit();
    }
  };

  before(async function () {
    await requireService(this, 'redis');
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-redis', 'planner-scripted', 'transport-rest'])
      d.linkBuiltIn(id);
    d.plugin({
      id: 'count-tools',
      kinds: ['tool-provider'],
      register: `
      const tool = (name) => ({ name, description: name, inputSchema: { type: 'object' } });
      env.provide(sdk.extensionPoints.toolProvider, { create: () => ({
        namespace: 'count',
        list: async () => ['hit', 'danger', 'maybe', 'short', 'slow'].map(tool),
        call: (name, args, ctx) => {
          record([name, ctx.taskId, ctx.step, ctx.idempotencyKey, ctx.repeat === true, JSON.stringify(args)].join(' '));
          if (name !== 'slow') return Promise.resolve({ output: { tool: name, args } });
          return new Promise((resolve, reject) => {
            const t = setTimeout(() => resolve({ output: 'slept' }), args.ms);
            ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
          });
        },
      }) });`,
    });
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './data/tasks.db' } }, '@opspawn/broker-memory',
        { use: '@opspawn/memory-redis', options: { url: '${REDIS_URL}', keyPrefix: '${memoryPrefix}' } },
        '@opspawn/planner-scripted', './plugins/count-tools',
        { use: '@opspawn/transport-rest', options: { port: 0 } }],
      agents: {
        ops: {
          tools: ['count__*'],
          approval: {
            count__danger: 'always',
            count__maybe: { when: { properties: { path: { pattern: '^/prod/' } }, required: ['path'] } },
            count__short: { expiresInMs: 300 },
            'count__*': 'never',
          },
        },
      },
      tasks: { concurrency: 2, reconcileIntervalMs: 200 },
      log: { level: 'warn' },
    }`);
    await restart();
  });
  after(async () => {
    host?.kill('SIGKILL');
    d?.cleanup();
    await deleteRedisKeys(`${memoryPrefix}*`);
  });

  it('waits for approval across a SIGKILL of the host, resumes at the call once approved, and runs no earlier step again', async () => {
    const task = await api.submit({
      goal: 'delete after checking',
      agent: 'ops',
      input: {
        plan: [
          { tool: 'count__hit', arguments: { n: 1 } },
          { tool: 'count__hit', arguments: { n: 2 } },
          { tool: 'count__danger', arguments: { path: '/tmp/x' } },
        ],
        final: '{{ last.output.args.path }}',
      },
    });
    const waits = await waiting(task.id);
    expect(waits).to.include({ attempts: 1 });
    expect(waits.leaseExpiresAt).to.equal(undefined);
    const requested = (await events(task.id)).filter((e) => e.type === 'approval_requested');
    expect(requested).to.have.length(1);
    expect(requested[0]!.data).to.include({ step: 3, callId: 's3c0', tool: 'count__danger' });
    expect(Date.parse((requested[0]!.data as { expiresAt: string }).expiresAt)).to.be.greaterThan(Date.now());
    expect(calls(task.id, 'danger')).to.deep.equal([]);

    await restart();
    expect((await api.get(task.id)).status, 'a waiting task stays waiting across a restart').to.equal(
      'waiting_approval',
    );
    const decided = await decide(url, task.id, 's3c0', {
      decision: 'approve',
      note: 'checked',
      arguments: { path: '/tmp/y' },
    });
    expect(decided.status).to.equal(200);
    expect(decided.body).to.include({ status: 'queued' });
    const done = await settled(task.id);
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output, 'the call ran with the arguments the approver gave').to.equal('/tmp/y');
    expect(calls(task.id, 'hit'), 'steps 1 and 2 ran once each').to.have.length(2);
    expect(calls(task.id, 'danger')).to.deep.equal([`danger ${task.id} 3 ${task.id}:3:s3c0 false {"path":"/tmp/y"}`]);
    const log = await events(task.id);
    expect(log.filter((e) => e.type === 'plan').map((e) => (e.data as { step: number }).step)).to.deep.equal([1, 2, 3]);
    expect(log.find((e) => e.type === 'approval_decided')!.data).to.deep.equal({
      step: 3,
      callId: 's3c0',
      decision: 'approve',
      by: 'anonymous',
      note: 'checked',
      arguments: { path: '/tmp/y' },
    });
    expect(await memoryRoles(task.id), 'memory got the goal and each step once').to.deep.equal([
      'user',
      ...['assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool'],
      'assistant',
    ]);
    expect(log.map((e) => (e.type === 'status' ? e.data.status : undefined)).filter(Boolean)).to.deep.equal([
      'queued',
      'running',
      'waiting_approval',
      'queued',
      'running',
      'succeeded',
    ]);
  });

  it('gives the planner a rejected call as a tool error carrying the note', async () => {
    const task = await api.submit({
      goal: 'maybe touch prod',
      agent: 'ops',
      input: {
        plan: [{ tool: 'count__maybe', arguments: { path: '/prod/db' }, onError: 'continue' }],
        final: '{{ last.error }}',
      },
    });
    await waiting(task.id);
    expect((await decide(url, task.id, 's1c0', { decision: 'reject', note: 'not on prod' })).status).to.equal(200);
    const done = await settled(task.id);
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.deep.equal({
      code: 'OPSPAWN_TOOL_CALL_REJECTED',
      message: "anonymous rejected the call of 'count__maybe': not on prod",
    });
    expect(calls(task.id, 'maybe'), 'a rejected call never runs').to.deep.equal([]);
  });

  it('runs a call whose arguments do not match the rule without asking', async () => {
    const task = await api.submit({
      goal: 'touch a test path',
      agent: 'ops',
      input: { plan: [{ tool: 'count__maybe', arguments: { path: '/test/db' } }] },
    });
    expect((await settled(task.id)).status).to.equal('succeeded');
    expect((await events(task.id)).some((e) => e.type === 'approval_requested')).to.equal(false);
  });

  it('fails the task with OPSPAWN_APPROVAL_EXPIRED when nobody decides in time, and refuses a late decision', async () => {
    const task = await api.submit({
      goal: 'wait in vain',
      agent: 'ops',
      input: { plan: [{ tool: 'count__short', arguments: {} }] },
    });
    const done = await settled(task.id);
    expect(done.status).to.equal('failed');
    expect(done.error?.code).to.equal('OPSPAWN_APPROVAL_EXPIRED');
    const late = await decide(url, task.id, 's1c0', { decision: 'approve' });
    expect(late.status).to.equal(409);
    expect(late.body.code).to.equal('OPSPAWN_APPROVAL_NOT_WAITING');
  });

  it('refuses bad decisions with a clear code: twice (409), not waiting (409), unknown task or call (404), bad body (400)', async () => {
    const task = await api.submit({
      goal: 'decide twice',
      agent: 'ops',
      input: { plan: [{ tool: 'count__danger', arguments: { path: '/a' } }] },
    });
    await waiting(task.id);
    const bad = await decide(url, task.id, 's1c0', { decision: 'maybe', arguments: 1, extra: true });
    expect(bad.status).to.equal(400);
    expect(bad.body.code).to.equal('OPSPAWN_INVALID_REQUEST');
    expect(bad.body.detail).to.match(/decision must be 'approve' or 'reject'/);
    const rejectWithArgs = await decide(url, task.id, 's1c0', { decision: 'reject', arguments: {} });
    expect(rejectWithArgs.status).to.equal(400);
    const unknownCall = await decide(url, task.id, 'nope', { decision: 'approve' });
    expect(unknownCall.status).to.equal(404);
    expect(unknownCall.body.code).to.equal('OPSPAWN_APPROVAL_NOT_FOUND');
    const unknownTask = await decide(url, 'task_00000000000000000000000000', 's1c0', { decision: 'approve' });
    expect(unknownTask.status).to.equal(404);
    expect(unknownTask.body.code).to.equal('OPSPAWN_TASK_NOT_FOUND');

    expect((await decide(url, task.id, 's1c0', { decision: 'approve' })).status).to.equal(200);
    const twice = await decide(url, task.id, 's1c0', { decision: 'reject' });
    expect(twice.status).to.equal(409);
    expect(twice.body.code).to.equal('OPSPAWN_APPROVAL_NOT_WAITING');
    expect((await settled(task.id)).status).to.equal('succeeded');
    const notWaiting = await decide(url, task.id, 's1c0', { decision: 'approve' });
    expect(notWaiting.status).to.equal(409);
  });

  it('decides from the CLI: `tasks approve` with --arguments, `tasks reject` with --note, and refuses bad JSON', async () => {
    const cli = (...args: string[]) => runCli(['tasks', ...args, '--url', url], { cwd: d.dir });
    const task = await api.submit({
      goal: 'two dangerous calls',
      agent: 'ops',
      input: {
        plan: [
          { tool: 'count__danger', arguments: { path: '/c' } },
          { tool: 'count__danger', arguments: { path: '/d' }, onError: 'continue' },
        ],
        final: '{{ steps[0].output.args.path }} {{ last.error.code }}',
      },
    });
    await waiting(task.id);
    const listed = await cli('list', '--status', 'waiting_approval', '--json');
    expect(listed.code, listed.stderr).to.equal(0);
    expect(JSON.parse(listed.stdout).tasks.map((t: Task) => t.id)).to.include(task.id);
    const badJson = await cli('approve', task.id, 's1c0', '--arguments', '{path');
    expect(badJson.code).to.equal(2);
    expect(badJson.stderr).to.match(/OPSPAWN_INVALID_REQUEST.*--arguments is not JSON/);
    const approved = await cli('approve', task.id, 's1c0', '--arguments', '{"path":"/e"}');
    expect(approved.code, approved.stderr).to.equal(0);
    expect(approved.stdout).to.equal(`${task.id} queued (call s1c0 approved)\n`);
    await until('step 2 to wait', async () => {
      const requested = (await events(task.id)).filter((e) => e.type === 'approval_requested');
      return requested.length === 2 && (await api.get(task.id)).status === 'waiting_approval' ? true : undefined;
    });
    const rejected = await cli('reject', task.id, 's2c0', '--note', 'no');
    expect(rejected.code, rejected.stderr).to.equal(0);
    const done = await settled(task.id);
    expect(done.output).to.equal('/e OPSPAWN_TOOL_CALL_REJECTED');
    const twice = await cli('reject', task.id, 's2c0');
    expect(twice.code).to.equal(2);
    expect(twice.stderr).to.match(/OPSPAWN_APPROVAL_NOT_WAITING/);
  });

  it('`opspawn run` exits 12 when its task waits; a host on the same store takes the decision and finishes it', async () => {
    d.file(
      'careful.json',
      JSON.stringify({
        goal: 'run carefully',
        agent: 'ops',
        input: { plan: [{ tool: 'count__danger', arguments: {} }] },
      }),
    );
    const run = await runCli(['run', 'careful.json'], { cwd: d.dir, env: { RECORD_FILE: d.recordFile } });
    expect(run.code, run.stderr).to.equal(12);
    const id = /^task (task_\w+)/.exec(run.stdout)![1]!;
    expect(run.stdout).to.contain(`opspawn tasks approve ${id} s1c0`);
    expect(run.stderr).to.contain(`task ${id} waits for approval`);
    expect((await api.get(id)).status).to.equal('waiting_approval');
    expect((await decide(url, id, 's1c0', { decision: 'approve' })).status).to.equal(200);
    expect((await settled(id)).status).to.equal('succeeded');
    expect(calls(id, 'danger')).to.have.length(1);
  });

  it('cancels a waiting task at once', async () => {
    const task = await api.submit({
      goal: 'cancel while waiting',
      agent: 'ops',
      input: { plan: [{ tool: 'count__danger', arguments: { path: '/b' } }] },
    });
    await waiting(task.id);
    const cancelled: Task = await api.cancel(task.id);
    expect(cancelled.status).to.equal('cancelled');
  });

  it('resumes a task whose host was SIGKILLed during step 3 after step 2: only the interrupted call runs again, marked repeat, with the same key', async () => {
    const task = await api.submit({
      goal: 'three steps',
      agent: 'ops',
      input: {
        plan: [
          { tool: 'count__hit', arguments: { n: 1 } },
          { tool: 'count__hit', arguments: { n: 2 } },
          { tool: 'count__slow', arguments: { ms: 1500 } },
          { tool: 'count__hit', arguments: { n: 4 } },
        ],
      },
    });
    await until('step 3 to start', async () => (calls(task.id, 'slow').length ? true : undefined));
    await restart();
    const done = await settled(task.id);
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.attempts).to.equal(2);
    expect(calls(task.id, 'hit').map((l) => l.split(' ')[2])).to.deep.equal(['1', '2', '4']);
    expect(calls(task.id, 'slow')).to.deep.equal([
      `slow ${task.id} 3 ${task.id}:3:s3c0 false {"ms":1500}`,
      `slow ${task.id} 3 ${task.id}:3:s3c0 true {"ms":1500}`,
    ]);
    const plans = (await events(task.id)).filter((e) => e.type === 'plan');
    expect(
      plans.map((e) => (e.data as { step: number }).step),
      'no decision was made twice',
    ).to.deep.equal([1, 2, 3, 4]);
  });
});
