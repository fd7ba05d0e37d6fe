import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ErrorCodes, isFinalStatus, type TaskEvent, type TaskStatus } from '@opspawn/plugin-sdk';
import {
  apiAndTwoWorkers,
  calculationTask,
  Cluster,
  countBy,
  type HostProcess,
  submitMany,
  untilRunning,
  workerPid,
} from '../helpers/cluster.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { POSTGRES_URL, requireService } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const SHORT_STOP_CONFIG = fileURLToPath(new URL('./fixtures/short-stop.config.ts', import.meta.url));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const finalEvents = (events: TaskEvent[]) =>
  events.filter((e) => e.type === 'status' && isFinalStatus(e.data.status as TaskStatus));

/** Every task of `run` succeeded with the right answer and has exactly one final status event. */
async function expectEachSucceededOnce(
  cluster: Cluster,
  run: string,
  ids: string[],
  timeoutMs: number,
): Promise<TaskEvent[][]> {
  const tasks = await cluster.settle(run, timeoutMs);
  expect(tasks).to.have.length(ids.length);
  expect(countBy(tasks, (t) => t.status)).to.deep.equal({ succeeded: ids.length });
  const histories: TaskEvent[][] = [];
  for (const task of tasks) {
    expect(task.output, task.id).to.equal(Number(task.goal.split(' ').pop()) + 14);
    const events = await cluster.events(task.id);
    expect(
      finalEvents(events).map((e) => e.data.status),
      task.id,
    ).to.deep.equal(['succeeded']);
    histories.push(events);
  }
  return histories;
}

describe('a distributed deployment under faults', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  let redis: PrivateRedis;
  let proxy: TcpProxy | undefined;

  before(async function () {
    await requireService(this, 'postgres');
    // The suite runs on a redis-server of its own: the Redis it stops is never the one other suites use.
    redis = await PrivateRedis.start();
  });
  afterEach(async () => {
    await cluster?.stop();
    await proxy?.close();
    proxy = undefined;
  });
  after(() => redis?.stop());

  it('SIGKILL of a worker running tasks: another worker takes them over and each task ends exactly once', async () => {
    let victim: HostProcess;
    [cluster, victim] = await apiAndTwoWorkers({ REDIS_URL: redis.url });
    const run = 'fault-sigkill';
    const ids = await submitMany(cluster.api!, 300, 16, (i) => calculationTask(run, i));
    // 12 running at once with 8 per worker: the victim is running at least 4 of them when it dies.
    await untilRunning(cluster, run, 12);
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).to.equal('SIGKILL');

    const histories = await expectEachSucceededOnce(cluster, run, ids, 180_000);
    const takenOver = histories.filter((events) =>
      events.some(
        (e) =>
          e.data.status === 'queued' &&
          (e.data.error as { code?: string } | undefined)?.code === ErrorCodes.TASK_STALLED,
      ),
    );
    expect(takenOver.length, 'tasks taken over from the killed worker').to.be.at.least(1);
    for (const events of takenOver) {
      const ranBy = events.filter((e) => e.data.status === 'running').map(workerPid);
      expect(ranBy[0]).to.equal(victim.pid);
      expect(ranBy.at(-1)).to.not.equal(victim.pid);
    }
  });

  it('Redis stops for 3 seconds and comes back empty: workers reconnect and no task is lost', async () => {
    let workers: HostProcess[];
    [cluster, ...workers] = await apiAndTwoWorkers({ REDIS_URL: redis.url, OPSPAWN_RECONCILE_INTERVAL_MS: '2000' });
    const run = 'fault-redis';
    const before = await submitMany(cluster.api!, 150, 16, (i) => calculationTask(run, i));
    await untilRunning(cluster, run, 8);
    // Submissions while Redis is down are kept in the store and enqueued by the recovery sweep later.
    const outage = redis.restart(3000, 'SHUTDOWN NOSAVE');
    await sleep(500);
    const during = await submitMany(cluster.api!, 10, 10, (i) => calculationTask(run, 1000 + i));
    await outage;
    const after = await submitMany(cluster.api!, 50, 16, (i) => calculationTask(run, 2000 + i));

    await expectEachSucceededOnce(cluster, run, [...before, ...during, ...after], 180_000);
    for (const worker of workers) expect(worker.child.exitCode, `${worker.name} is still running`).to.equal(null);
  });

  it('PostgreSQL cut off for 3 seconds: every process reconnects and each task ends exactly once', async () => {
    proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    [cluster] = await apiAndTwoWorkers({
      REDIS_URL: redis.url,
      DATABASE_URL: proxy.via(POSTGRES_URL),
      OPSPAWN_RECONCILE_INTERVAL_MS: '2000',
    });
    const run = 'fault-postgres';
    const ids = await submitMany(cluster.api!, 150, 16, (i) => calculationTask(run, i));
    await untilRunning(cluster, run, 8);
    expect(proxy.connections, 'connections to PostgreSQL through the proxy').to.be.greaterThan(0);
    proxy.cutConnections();
    await sleep(3000);
    proxy.restore();

    await cluster.settle(run, 180_000);
    for (const host of cluster.processes)
      expect(
        host.child.exitCode ?? host.child.signalCode,
        `${host.name} exited:\n${host.output.slice(-4000)}`,
      ).to.equal(null);
    await expectEachSucceededOnce(cluster, run, ids, 180_000);
  });

  it('SIGTERM after Redis restarted under load: the worker prints stopped and exits 0 within its stop timeout', async () => {
    // A short sweep interval re-enqueues quickly what the restart lost, whether or not the engine heard of it.
    cluster = new Cluster({ REDIS_URL: redis.url, OPSPAWN_RECONCILE_INTERVAL_MS: '2000' });
    await cluster.startApi();
    // The default concurrency (32) keeps many fetches per priority level waiting on Redis when it goes away.
    const worker = await cluster.startWorker();
    const run = 'fault-sigterm-after-restart';
    await submitMany(cluster.api!, 100, 16, (i) => calculationTask(run, i));
    await untilRunning(cluster, run, 8);
    // Long enough for bee-queue to retry its fetch many times while Redis is gone.
    await redis.restart(8000);
    await submitMany(cluster.api!, 50, 16, (i) => calculationTask(run, 1000 + i));
    await untilRunning(cluster, run, 8);

    worker.child.kill('SIGTERM');
    // The kernel's stop timeout (10 s) bounds the drain and again each plugin's stop; past both it must be gone.
    const exit = await Promise.race([worker.exited, sleep(25_000).then(() => 'still running after 25 s')]);
    expect(exit, worker.output).to.deep.equal({ code: 0, signal: null });
    expect(worker.output).to.match(/\nstopped\n/);
  });

  it('SIGTERM while tasks run past the stop timeout: the worker hands them back, prints stopped and exits 0', async () => {
    cluster = new Cluster({ REDIS_URL: redis.url, OPSPAWN_CONCURRENCY: '4' }, SHORT_STOP_CONFIG);
    await cluster.startApi();
    const leaving = await cluster.startWorker();
    const run = 'fault-sigterm-past-stop-timeout';
    // Each task spins far longer than the worker's stop timeout (3 s): none can finish while the worker drains.
    const ids = await submitMany(cluster.api!, 4, 4, (i) => ({
      goal: `spin ${i}`,
      labels: { run },
      input: {
        plan: [
          ...Array.from({ length: 8 }, () => ({ tool: 'js__spin', arguments: { ms: 1000 } })),
          { tool: 'js__calculate', arguments: { expression: `${i} + 1` } },
        ],
        final: '{{ last.output.value }}',
      },
    }));
    await untilRunning(cluster, run, 4);

    leaving.child.kill('SIGTERM');
    const exit = await leaving.exited;
    expect(exit, leaving.output).to.deep.equal({ code: 0, signal: null });
    expect(leaving.output)
      .to.match(/\nstopped\n/)
      .and.not.match(/did not stop/);

    // What the leaving worker handed back runs on another worker, each task to one final state.
    await cluster.startWorker();
    const tasks = await cluster.settle(run, 180_000);
    expect(
      countBy(tasks, (t) => t.status),
      JSON.stringify(tasks.map((t) => t.error)),
    ).to.deep.equal({
      succeeded: ids.length,
    });
    for (const task of tasks) {
      const events = await cluster.events(task.id);
      expect(task.output, task.id).to.equal(Number(task.goal.split(' ').pop()) + 1);
      expect(
        finalEvents(events).map((e) => e.data.status),
        task.id,
      ).to.deep.equal(['succeeded']);
      const runners = events.filter((e) => e.data.status === 'running').map(workerPid);
      expect(runners[0], `${task.id} first ran on the leaving worker`).to.equal(leaving.pid);
      expect(runners.at(-1), `${task.id} finished on the other worker`).to.not.equal(leaving.pid);
    }
  });

  it('SIGTERM of a busy worker: it finishes what it runs, hands back what it held, and exits 0', async () => {
    let leaving: HostProcess;
    [cluster, leaving] = await apiAndTwoWorkers({ REDIS_URL: redis.url });
    const run = 'fault-sigterm';
    const ids = await submitMany(cluster.api!, 200, 16, (i) => calculationTask(run, i));
    await untilRunning(cluster, run, 12);
    leaving.child.kill('SIGTERM');
    const exit = await leaving.exited;
    expect(exit, leaving.output).to.deep.equal({ code: 0, signal: null });
    expect(leaving.output)
      .to.match(/SIGTERM: stopping plugins/)
      .and.match(/\nstopped\n/);

    const histories = await expectEachSucceededOnce(cluster, run, ids, 180_000);
    // Nothing was cut off: every task succeeded on its first attempt, and the leaving worker ran some to the end.
    for (const events of histories)
      expect(
        events.filter((e) => e.data.status === 'running'),
        `${JSON.stringify(events, null, 1)}\nleaving worker ${leaving.pid}:\n${leaving.output.slice(-4000)}`,
      ).to.have.length(1);
    const finishedByLeaver = histories.filter(
      (events) => workerPid(events.find((e) => e.data.status === 'running')!) === leaving.pid,
    );
    expect(finishedByLeaver.length).to.be.at.least(4);
  });
});
