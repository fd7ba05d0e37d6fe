import { join } from 'node:path';
import { expect } from 'chai';
import redis from 'redis';
import { RestClient } from '@opspawn/core';
import type { Task, TaskEvent } from '@opspawn/plugin-sdk';
import { Cluster } from '../helpers/cluster.js';
import { REPO } from '../helpers/deployment.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const KEY = 'approvals-e2e-key';

describe('approvals and checkpoints on a distributed deployment: an API process and two workers on PostgreSQL and Redis', function () {
  this.timeout(120_000);
  const cluster = new Cluster({ OPSPAWN_API_KEY: KEY }, join(REPO, 'test/e2e/fixtures/approval.config.ts'));
  let api: RestClient;
  const workerPids: number[] = [];

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    await cluster.startApi();
    api = new RestClient({ url: cluster.apiUrl!, token: KEY });
    workerPids.push((await cluster.startWorker()).pid, (await cluster.startWorker()).pid);
  });
  after(() => cluster.stop());

  const events = async (id: string): Promise<TaskEvent[]> => {
    const response = await fetch(`${cluster.apiUrl}/v1/tasks/${id}/events?limit=1000`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    return ((await response.json()) as { events: TaskEvent[] }).events;
  };
  /** The roles of the session's messages as memory-redis keeps them. */
  async function memoryRoles(sessionId: string): Promise<string[]> {
    const client = redis.createClient(REDIS_URL, { retry_strategy: () => undefined });
    try {
      const raw = await new Promise<string[]>((resolve, reject) =>
        client.lrange(`${cluster.queue}:memory:${sessionId}:messages`, 0, -1, (e, r) => (e ? reject(e) : resolve(r))),
      );
      return raw.map((m) => (JSON.parse(m) as { role: string }).role);
    } finally {
      client.quit();
    }
  }

  async function until(id: string, done: (t: Task) => boolean): Promise<Task> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const task = await api.get(id);
      if (done(task)) return task;
      if (Date.now() > deadline)
        throw new Error(
          `${id} still ${task.status}\n${cluster.processes.map((p) => p.output.slice(-2000)).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('approved on the API process, resumes on a worker at the call, and records who decided', async () => {
    const task = await api.submit({
      goal: 'calculate carefully',
      agent: 'careful',
      input: {
        plan: [
          // An output of many keys: PostgreSQL's jsonb gives them back in another order than memory holds them.
          { tool: 'js__text_stats', arguments: { text: 'two words' } },
          { tool: 'js__calculate', arguments: { expression: '9 * {{ last.output.words }}' } },
        ],
        final: '{{ last.output.value }}',
      },
    });
    await until(task.id, (t) => t.status === 'waiting_approval');
    const approved = await api.decide(task.id, 's2c0', { decision: 'approve', note: 'fine' });
    expect(approved.status).to.equal('queued');
    const done = await until(task.id, (t) => ['succeeded', 'failed', 'cancelled'].includes(t.status));
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.equal(18);

    const log = await events(task.id);
    const calls = log.filter((e) => e.type === 'tool_call').map((e) => (e.data as { step: number }).step);
    expect(calls, 'step 1 ran once, step 2 once it was approved').to.deep.equal([1, 2]);
    expect(log.find((e) => e.type === 'approval_decided')!.data).to.include({
      callId: 's2c0',
      decision: 'approve',
      by: 'ops',
    });
    const running = log.filter((e) => e.type === 'status' && e.data.status === 'running');
    expect(running).to.have.length(2);
    const resumedOn = Number((running[1]!.data as { worker: string }).worker.split(':').pop());
    expect(workerPids, 'the attempt after the decision ran on a worker').to.include(resumedOn);

    expect(await memoryRoles(task.id), 'memory got the goal and each step once').to.deep.equal([
      'user',
      ...['assistant', 'tool', 'assistant', 'tool'],
      'assistant',
    ]);
  });

  it('resumes a task whose worker was SIGKILLed during step 3 on the other worker, after step 2', async () => {
    const task = await api.submit({
      goal: 'four steps, the third one long',
      agent: 'careful',
      input: {
        plan: [
          { tool: 'js__calculate', arguments: { expression: '1 + 1' } },
          { tool: 'js__calculate', arguments: { expression: '2 + 2' } },
          { tool: 'js__spin', arguments: { ms: 3000 } },
          { tool: 'js__calculate', arguments: { expression: '3 + 3' } },
        ],
        final: '{{ last.output.value }}',
      },
    });
    const deadline = Date.now() + 30_000;
    let log: TaskEvent[] = [];
    while (!log.some((e) => e.type === 'tool_call' && e.data.step === 3)) {
      if (Date.now() > deadline) throw new Error('step 3 never started');
      await new Promise((r) => setTimeout(r, 25));
      log = await events(task.id);
    }
    const running = log.filter((e) => e.type === 'status' && e.data.status === 'running').at(-1)!;
    const pid = Number((running.data as { worker: string }).worker.split(':').pop());
    const victim = cluster.processes.find((p) => p.pid === pid)!;
    victim.child.kill('SIGKILL');
    await victim.exited;

    const done = await until(task.id, (t) => ['succeeded', 'failed', 'cancelled'].includes(t.status));
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.equal(6);
    log = await events(task.id);
    const calls = log.filter((e) => e.type === 'tool_call').map((e) => (e.data as { step: number }).step);
    expect(calls, 'steps 1 and 2 ran once; only the interrupted call of step 3 ran again').to.deep.equal([
      1, 2, 3, 3, 4,
    ]);
    expect(log.filter((e) => e.type === 'plan').map((e) => (e.data as { step: number }).step)).to.deep.equal([
      1, 2, 3, 4,
    ]);
    const workers = log
      .filter((e) => e.type === 'status' && e.data.status === 'running')
      .map((e) => Number((e.data as { worker: string }).worker.split(':').pop()));
    expect(workers.at(-1), 'the other worker finished it').to.not.equal(pid);
    expect(await memoryRoles(task.id), 'memory got the goal and each step once').to.deep.equal([
      'user',
      ...['assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool'],
      'assistant',
    ]);
  });
});
