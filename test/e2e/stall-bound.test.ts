import { expect } from 'chai';
import { ErrorCodes, type TaskEvent } from '@opspawn/plugin-sdk';
import { Cluster } from '../helpers/cluster.js';
import { startDoomedWorker } from '../helpers/doomed-worker.js';
import { requireService } from '../helpers/services.js';

describe('a task that kills every worker it runs on', function () {
  this.timeout(120_000);
  let cluster: Cluster;

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
  });
  after(() => cluster?.stop());

  it('is taken over after each death and fails with OPSPAWN_TASK_STALLED once it stalled more than maxStalls times', async () => {
    cluster = new Cluster();
    await cluster.startApi();
    const task = await cluster.api!.submit({
      goal: 'crash every worker',
      input: { plan: [{ tool: 'doom__hang' }] },
      labels: { run: 'stall-bound' },
    });
    const doomedWorker = () => startDoomedWorker(cluster, { maxStalls: 1 });

    // Two workers die while running it: the second death is its second stall, one more than maxStalls (1).
    for (let death = 1; death <= 2; death++) {
      const worker = doomedWorker();
      await worker.waitFor(new RegExp(`running ${task.id}`), 60_000);
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    const last = doomedWorker();
    await last.waitFor(/ready/);
    const deadline = Date.now() + 60_000;
    while ((await cluster.api!.get(task.id)).status !== 'failed') {
      if (Date.now() > deadline)
        throw new Error(`the task did not fail: ${JSON.stringify(await cluster.api!.get(task.id))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const failed = await cluster.api!.get(task.id);
    expect(failed.error).to.deep.equal({
      code: ErrorCodes.TASK_STALLED,
      message: 'the task stalled 2 times (its worker stopped answering each time); maxStalls is 1',
    });
    expect(failed.attempts).to.equal(2);
    const statuses = (await cluster.events(task.id))
      .filter((e: TaskEvent) => e.type === 'status')
      .map((e) => `${e.data.status as string}@${e.data.attempt as number}`);
    expect(statuses).to.deep.equal(['queued@0', 'running@1', 'queued@1', 'running@2', 'failed@2']);
    expect(last.output).to.not.match(/running task_/);
  });
});
