import { expect } from 'chai';
import { FINAL_STATUSES, type TaskEvent, type TaskStatus } from '@opspawn/plugin-sdk';
import { Cluster, countBy, submitMany, workerPid, type HostProcess } from '../helpers/cluster.js';
import { requireService } from '../helpers/services.js';

const NO_OP = { plan: [], final: 'done' };

/** Status events of a task, as `status@attempt`. */
const statusTrail = (events: TaskEvent[]) =>
  events.filter((e) => e.type === 'status').map((e) => `${e.data.status as string}@${e.data.attempt as number}`);

describe('a distributed deployment: one API process and two workers on PostgreSQL and Redis', function () {
  this.timeout(180_000);
  const cluster = new Cluster();
  let workers: HostProcess[];

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    await cluster.startApi();
    workers = [await cluster.startWorker(), await cluster.startWorker()];
  });
  after(() => cluster.stop());

  it('starts a worker with its transports inactive, and an API process that runs no task', () => {
    for (const worker of workers) {
      expect(worker.output).to.match(/transport-rest\s+\S+\s+transport\s+inactive/);
      expect(worker.output).to.match(
        /worker: running up to 1000 tasks at once from the broker; no API in this process/,
      );
    }
    const api = cluster.processes[0]!;
    expect(api.output).to.match(/http listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(api.output).to.match(/api: tasks submitted here run on worker processes/);
  });

  it('runs 2,000 tasks submitted over REST, each to exactly one success, spread over both workers', async () => {
    const run = 'e2e-2000';
    const ids = await submitMany(cluster.api!, 2000, 32, (i) => ({
      goal: `no-op ${i}`,
      input: NO_OP,
      labels: { run },
    }));
    expect(new Set(ids).size).to.equal(2000);
    const tasks = await cluster.settle(run, 150_000);
    expect(tasks).to.have.length(2000);
    expect(countBy(tasks, (t) => t.status)).to.deep.equal({ succeeded: 2000 });
    expect(tasks.every((t) => t.attempts === 1 && t.output === 'done')).to.equal(true);

    // Which process ran a task is in its `running` event; a sample of 200 histories shows both workers at work.
    const sample = ids.filter((_, i) => i % 10 === 0);
    const ranBy = new Set<number>();
    for (const id of sample) {
      const events = await cluster.events(id);
      expect(statusTrail(events), id).to.deep.equal(['queued@0', 'running@1', 'succeeded@1']);
      ranBy.add(workerPid(events.find((e) => e.data.status === 'running')!));
    }
    expect([...ranBy].sort()).to.deep.equal(workers.map((w) => w.pid).sort());
  });

  it('streams the events a worker appends to a watcher of the API process, live and in order', async () => {
    // The task waits 1.5 s (notBefore) so the stream is open before a worker takes it.
    const task = await cluster.api!.submit({
      goal: 'watched across processes',
      labels: { run: 'e2e-watch' },
      notBefore: new Date(Date.now() + 1500).toISOString(),
      input: {
        plan: [
          { tool: 'js__calculate', arguments: { expression: '6 * 7' } },
          { tool: 'js__text_stats', arguments: { text: 'the answer is {{ steps[0].output.value }}' } },
        ],
        final: '{{ steps[0].output.value }}',
      },
    });
    const received: TaskEvent[] = [];
    for await (const event of cluster.api!.watch(task.id)) received.push(event);
    expect(received.map((e) => e.seq)).to.deep.equal(received.map((_, i) => i + 1));
    expect(statusTrail(received), JSON.stringify(received.at(-1)!.data)).to.deep.equal([
      'queued@0',
      'running@1',
      'succeeded@1',
    ]);
    expect(received.filter((e) => e.type === 'tool_call').map((e) => e.data.tool)).to.deep.equal([
      'js__calculate',
      'js__text_stats',
    ]);
    expect(FINAL_STATUSES).to.include(received.at(-1)!.data.status as TaskStatus);
    expect((await cluster.api!.get(task.id)).output).to.equal(42);
  });
});
