import { expect } from 'chai';
import type { Task } from '@opspawn/plugin-sdk';
import { Cluster } from '../helpers/cluster.js';
import { REPO } from '../helpers/deployment.js';
import { requireService } from '../helpers/services.js';
import { join } from 'node:path';

/**
 * A step calling `agents__calculator` with a child plan of `steps` calculations; the child answers with the last
 * one's output. (A template in the child's plan would be rendered by the parent's planner: there are none.)
 */
const askCalculator = (steps: number) => ({
  tool: 'agents__calculator',
  arguments: {
    goal: `calculate ${steps} times`,
    input: {
      plan: Array.from({ length: steps }, (_, s) => ({
        tool: 'js__calculate',
        arguments: { expression: `6 * 7 + ${s}` },
      })),
    },
  },
});

describe('handoffs on a distributed deployment: an API process and two workers (one slot each) on PostgreSQL and Redis', function () {
  this.timeout(120_000);
  const cluster = new Cluster({ OPSPAWN_CONCURRENCY: '1' }, join(REPO, 'test/e2e/fixtures/handoff.config.ts'));

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    await cluster.startApi();
    await cluster.startWorker();
    await cluster.startWorker();
  });
  after(() => cluster.stop());

  async function settled(id: string, timeoutMs = 60_000): Promise<Task> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const task = await cluster.api!.get(id);
      if (['succeeded', 'failed', 'cancelled'].includes(task.status)) return task;
      if (Date.now() > deadline)
        throw new Error(
          `${id} still ${task.status}\n${cluster.processes.map((p) => p.output.slice(-2000)).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("hands off from the coordinator to the calculator and answers with the child's answer", async () => {
    const task = await cluster.api!.submit({
      goal: 'ask the calculator',
      agent: 'coordinator',
      input: { plan: [askCalculator(2)], final: 'the answer is {{ last.output.value }}' },
    });
    const done = await settled(task.id);
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.equal('the answer is 43');
    const children = (await cluster.api!.list({ parentId: task.id })).tasks;
    expect(children).to.have.length(1);
    expect(children[0]).to.include({ agent: 'calculator', parentId: task.id, status: 'succeeded' });
    const handoff = (await cluster.events(task.id)).find((e) => e.type === 'handoff');
    expect(handoff?.data).to.include({ childId: children[0]!.id, agent: 'calculator', created: true });
  });

  it('cancels the child when the parent is cancelled through the API', async () => {
    const task = await cluster.api!.submit({
      goal: 'ask for a long calculation',
      agent: 'coordinator',
      input: { plan: [askCalculator(3000)] },
    });
    const deadline = Date.now() + 30_000;
    let child: Task | undefined;
    while (!child) {
      [child] = (await cluster.api!.list({ parentId: task.id, status: ['running'] })).tasks;
      if (Date.now() > deadline) throw new Error('the child never ran');
      if (!child) await new Promise((r) => setTimeout(r, 50));
    }
    await cluster.api!.cancel(task.id);
    expect((await settled(task.id)).status).to.equal('cancelled');
    const ended = await settled(child.id);
    expect(ended.status).to.equal('cancelled');
    expect(ended.error?.code).to.equal('OPSPAWN_TASK_CANCELLED');
  });
});
