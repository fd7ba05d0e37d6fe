import { expect } from 'chai';
import { SCHEDULE_LABEL, type Schedule, type Task } from '@opspawn/plugin-sdk';
import { Cluster, countBy } from '../helpers/cluster.js';
import { requireService } from '../helpers/services.js';

describe('a schedule on three processes sharing PostgreSQL and Redis (one API process, two workers)', function () {
  this.timeout(180_000);
  const cluster = new Cluster();

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    await cluster.startApi();
    await cluster.startWorker();
    await cluster.startWorker();
  });
  after(() => cluster.stop());

  it('fires every second for 20 s: 20 ± 1 tasks, never two for one due time', async () => {
    const api = cluster.apiUrl!;
    const created = await fetch(`${api}/v1/schedules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'every-second',
        everyMs: 1000,
        overlap: 'allow',
        task: { goal: 'tick', input: { plan: [], final: 'tock' } },
      }),
    });
    expect(created.status).to.equal(201);
    const startedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20_000 - (Date.now() - startedAt) + 300));
    const paused = (await (
      await fetch(`${api}/v1/schedules/every-second/pause`, { method: 'POST' })
    ).json()) as Schedule;
    expect(paused.paused).to.equal(true);

    const tasks: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await cluster.api!.list({ labels: { [SCHEDULE_LABEL]: 'every-second' }, limit: 500, cursor });
      tasks.push(...page.tasks);
      cursor = page.nextCursor;
    } while (cursor);
    expect(tasks.length).to.be.within(19, 21);
    // One task per due time: by idempotency key, and by the due time the key names.
    const keys = tasks.map((t) => t.idempotencyKey!);
    expect(new Set(keys).size).to.equal(tasks.length);
    const dueTimes = keys.map((k) => Date.parse(k.slice('schedule:every-second:'.length))).sort((a, b) => a - b);
    for (let i = 1; i < dueTimes.length; i++) expect(dueTimes[i]! - dueTimes[i - 1]!).to.equal(1000);
    // A fire in flight when the pause landed may have made its task without recording it.
    expect(paused.fires).to.be.within(tasks.length - 1, tasks.length);
    // Three schedulers raced for each due time; the store's compare-and-set let one record it.
    expect(countBy(tasks, (t) => t.labels[SCHEDULE_LABEL]!)).to.deep.equal({ 'every-second': tasks.length });
    for (const p of cluster.processes) expect(p.output, p.name).not.to.match(/not handled|look failed/);
  });
});
