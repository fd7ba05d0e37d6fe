/**
 * Distributed throughput: no-op tasks (an empty scripted plan) submitted over REST to one API process and run by
 * 1, 2 and 4 worker processes of config/distributed.config.ts on this machine's PostgreSQL and Redis, from submit
 * to the last task succeeded. Next to it, in the same run on the same Redis: raw bee-queue no-op jobs/s with the
 * same number of worker processes, jobs created by this process with the same number in flight. Target: at least
 * 50% of raw bee-queue. Every process shares this machine's cores with PostgreSQL and Redis.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import BeeQueue from 'bee-queue';
import { Cluster, deleteRedisKeys, submitMany } from '../helpers/cluster.js';
import { REDIS_URL, reachable } from '../helpers/services.js';

const TASKS = Number(process.env.BENCH_DISTRIBUTED_TASKS ?? 3000);
const IN_FLIGHT = 64;
const CONCURRENCY = 32;

async function rawBeeQueue(workers: number, jobs: number): Promise<number> {
  const name = `bench-raw-${process.pid}-${workers}`;
  const children = Array.from({ length: workers }, () =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/raw-bee-queue-worker.ts', import.meta.url)),
        REDIS_URL,
        name,
        String(CONCURRENCY),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  await Promise.all(children.map((c) => new Promise((resolve) => c.stdout!.once('data', resolve))));
  const producer = new BeeQueue(name, {
    redis: { url: REDIS_URL },
    isWorker: false,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
  });
  await producer.ready();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < jobs) {
        next++;
        await producer.createJob({ n: next }).save();
      }
    }),
  );
  for (;;) {
    const { waiting, active } = await producer.checkHealth();
    if (waiting + active === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const rate = jobs / ((performance.now() - t0) / 1000);
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  await producer.close();
  await deleteRedisKeys(`bq:${name}:*`);
  return rate;
}

async function opspawn(workers: number, tasks: number): Promise<{ rate: number; submitRate: number }> {
  const cluster = new Cluster({ OPSPAWN_CONCURRENCY: String(CONCURRENCY), OPSPAWN_LOG_LEVEL: 'error' });
  try {
    await cluster.startApi();
    for (let i = 0; i < workers; i++) await cluster.startWorker();
    // Warm up connections, JIT and the schema before timing.
    await submitMany(cluster.api!, 200, IN_FLIGHT, (i) => ({
      goal: `warm ${i}`,
      input: { plan: [], final: 'ok' },
      labels: { run: 'warm' },
    }));
    await cluster.settle('warm', 120_000);
    const t0 = performance.now();
    await submitMany(cluster.api!, tasks, IN_FLIGHT, (i) => ({
      goal: `bench ${i}`,
      input: { plan: [], final: 'ok' },
      labels: { run: 'bench' },
    }));
    const submitted = performance.now();
    const done = await cluster.settle('bench', 600_000);
    const elapsed = (performance.now() - t0) / 1000;
    const failed = done.filter((t) => t.status !== 'succeeded').length;
    if (failed > 0) throw new Error(`${failed} bench tasks did not succeed`);
    return { rate: tasks / elapsed, submitRate: tasks / ((submitted - t0) / 1000) };
  } finally {
    await cluster.stop();
  }
}

export default async function bench(): Promise<void> {
  if (!(await reachable(6379)) || !(await reachable(5432))) {
    console.log('SKIPPED: needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (start them, or see .ci/run)');
    return;
  }
  console.log(
    `${TASKS} no-op tasks per run, ${IN_FLIGHT} submissions in flight, concurrency ${CONCURRENCY} per worker process`,
  );
  console.log('workers | raw bee-queue jobs/s | opspawn tasks/s (REST submit → succeeded) | ratio | REST submits/s');
  for (const workers of [1, 2, 4]) {
    const raw = await rawBeeQueue(workers, TASKS);
    const ours = await opspawn(workers, TASKS);
    console.log(
      `${String(workers).padStart(7)} | ${raw.toFixed(0).padStart(20)} | ${ours.rate.toFixed(0).padStart(41)} | ${((ours.rate / raw) * 100).toFixed(0).padStart(4)}% | ${ours.submitRate.toFixed(0)}`,
    );
  }
}
