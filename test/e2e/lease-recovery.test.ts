import { expect } from 'chai';
import type { TaskEvent } from '@opspawn/plugin-sdk';
import { Cluster, deleteRedisKeys } from '../helpers/cluster.js';
import { startDoomedWorker } from '../helpers/doomed-worker.js';
import { requireService } from '../helpers/services.js';

describe('an attempt whose worker died where the broker cannot see it', function () {
  this.timeout(120_000);
  let cluster: Cluster;

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
  });
  after(() => cluster?.stop());

  it('is taken back when its lease runs out, not when its 24-hour timeout does', async () => {
    cluster = new Cluster();
    await cluster.startApi();
    const task = await cluster.api!.submit({
      goal: 'outlive a worker',
      input: { plan: [{ tool: 'doom__hang' }] },
      timeoutMs: 86_400_000,
      labels: { run: 'lease-recovery' },
    });
    const worker = () => startDoomedWorker(cluster, { maxStalls: 3, leaseMs: 3000 });

    const first = worker();
    await first.waitFor(new RegExp(`running ${task.id}`), 60_000);
    expect((await cluster.api!.get(task.id)).leaseExpiresAt).to.be.a('string');
    first.child.kill('SIGKILL');
    await first.exited;
    // Redis loses this deployment's queue (as when it restarts empty): no job is left for a stall check to find.
    await deleteRedisKeys(`bq:${cluster.queue}:*`);

    const second = worker();
    await second.waitFor(new RegExp(`running ${task.id}`), 60_000);
    const statuses = (await cluster.events(task.id))
      .filter((e: TaskEvent) => e.type === 'status')
      .map((e) => `${e.data.status}@${e.data.attempt}${e.data.error ? `: ${e.data.error.message}` : ''}`);
    expect(statuses).to.deep.equal([
      'queued@0',
      'running@1',
      'queued@1: the lease of attempt 1 ran out: its worker stopped renewing it',
      'running@2',
    ]);
  });
});
