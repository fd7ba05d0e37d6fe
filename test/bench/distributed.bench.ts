/**
 * Distributed throughput: no-op tasks (an empty scripted plan) submitted over REST to one API process and run by
 * 1, 2 and 4 worker processes of config/distributed.config.ts on this machine's PostgreSQL and Redis, from the
 * first submit to the last task succeeded. In the same run, on the same PostgreSQL and Redis, three baselines:
 *
 * - raw bee-queue: no-op jobs with the same number of worker processes, created by this process, 64 in flight;
 * - the bare stack: the same durable work by hand (test/bench/fixtures/bare-stack-*.ts), a koa API process that
 *   inserts the task row and its first event and enqueues a bee-queue job, and worker processes that mark the task
 *   running, write its answer's event and mark it succeeded; 64 submissions in flight, the same concurrency;
 * - Graphile Worker (durable jobs on PostgreSQL alone): one worker process at the same concurrency, jobs added one
 *   by one by 64 concurrent callers.
 *
 * Opspawn runs twice per row: 64 single submits in flight, then batches of BATCH tasks (4 in flight) on
 * `POST /v1/tasks/batch`. Targets (issue 18): at least 50% of the bare stack, 25% of raw bee-queue, ahead of
 * Graphile Worker. Each baseline's ceiling on this machine is its best rate over the rows; every process shares
 * this machine's cores with PostgreSQL and Redis, so read the ratios, and the load average printed with them.
 *
 * BENCH_DISTRIBUTED_TASKS: tasks per run (3000). BENCH_CPU_PROF=<dir>: the Opspawn API and worker processes write
 * V8 CPU profiles there (node --cpu-prof), one per process, when they exit. BENCH_PG_COUNT=<dir>: they count the
 * statements they send to PostgreSQL (fixtures/count-pg-statements.mjs), printed per task. BENCH_DISTRIBUTED_WORKERS:
 * the worker counts to run (`1,2,4`). BENCH_DISTRIBUTED_ALTERNATE=<rounds>: instead of the table, Graphile Worker and
 * Opspawn single submits alternate for that many rounds per worker count, and the median ratio is printed (two
 * runs minutes apart on this shared machine differ more than a change is meant to show).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BeeQueue from 'bee-queue';
import { makeWorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { Cluster, deleteRedisKeys, submitMany } from '../helpers/cluster.js';
import { POSTGRES_URL, REDIS_URL, reachable } from '../helpers/services.js';
import { bareStackSchema } from './fixtures/bare-stack-schema.js';

const TASKS = Number(process.env.BENCH_DISTRIBUTED_TASKS ?? 3000);
const IN_FLIGHT = 64;
const CONCURRENCY = 32;
const BATCH = 100;
const BATCHES_IN_FLIGHT = 4;
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const COUNT_DIR = process.env.BENCH_PG_COUNT;
const WORKERS = (process.env.BENCH_DISTRIBUTED_WORKERS ?? '1,2,4').split(',').map(Number);
const ALTERNATE = Number(process.env.BENCH_DISTRIBUTED_ALTERNATE ?? 0);

function fixture(name: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

/** The first line a fixture prints: `ready`, or its URL. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a bench fixture exited with ${code} before it was ready`)));
    child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim()));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((c) => {
      if (c.exitCode !== null) return undefined;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      return exited;
    }),
  );
}

/** Runs `count` calls of `one`, `parallel` at a time. */
async function inParallel(count: number, parallel: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

/**
 * CPU seconds (user + system) spent so far by the processes named `postgres` and `redis-server` on this machine, and
 * by `pids`: where a run's time went. PostgreSQL and Redis are shared with whatever else runs here. Linux only.
 */
function cpuSeconds(pids: number[]): { postgres: number; redis: number; pids: number[] } {
  // utime + stime, plus cutime + cstime: what exited children spent (PostgreSQL's backends come and go).
  const ticks = (stat: string) => {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / 100;
  };
  const read = (pid: string | number) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
  };
  const totals = { postgres: 0, redis: 0, pids: pids.map((pid) => ticks(read(pid) ?? '() 0 0 0 0 0 0 0 0 0 0 0 0 0')) };
  if (!existsSync('/proc/self/stat')) return totals;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const stat = read(pid);
    const name = stat?.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (name === 'postgres') totals.postgres += ticks(stat!);
    else if (name === 'redis-server') totals.redis += ticks(stat!);
  }
  return totals;
}

/** Polls `open` (how many are left) until it answers 0. */
async function untilNone(open: () => Promise<number>): Promise<void> {
  while ((await open()) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function rawBeeQueue(workers: number, jobs: number): Promise<number> {
  const name = `bench-raw-${process.pid}-${workers}`;
  const children = Array.from({ length: workers }, () =>
    fixture('raw-bee-queue-worker.ts', [REDIS_URL, name, String(CONCURRENCY)]),
  );
  await Promise.all(children.map(firstLine));
  const producer = new BeeQueue(name, {
    redis: { url: REDIS_URL },
    isWorker: false,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
  });
  await producer.ready();
  const t0 = performance.now();
  await inParallel(jobs, IN_FLIGHT, (n) => producer.createJob({ n }).save());
  await untilNone(async () => {
    const { waiting, active } = await producer.checkHealth();
    return waiting + active;
  });
  const rate = jobs / ((performance.now() - t0) / 1000);
  await stopAll(children);
  await producer.close();
  await deleteRedisKeys(`bq:${name}:*`);
  return rate;
}

async function bareStack(workers: number, tasks: number): Promise<number> {
  const schema = `bench_bare_${process.pid}_${workers}`;
  const queue = `bench-bare-${process.pid}-${workers}`;
  const db = new pg.Client({ connectionString: POSTGRES_URL });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.query(bareStackSchema(schema));
  const api = fixture('bare-stack-api.ts', [POSTGRES_URL, REDIS_URL, schema, queue]);
  const children = [
    api,
    ...Array.from({ length: workers }, () =>
      fixture('bare-stack-worker.ts', [POSTGRES_URL, REDIS_URL, schema, queue, String(CONCURRENCY)]),
    ),
  ];
  try {
    const [url] = await Promise.all(children.map(firstLine));
    const submit = async (i: number) => {
      const response = await fetch(`${url}/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ goal: `bench ${i}`, input: { plan: [], final: 'ok' }, labels: { run: 'bench' } }),
      });
      if (response.status !== 202) throw new Error(`the bare API answered ${response.status}`);
      await response.json();
    };
    await inParallel(200, IN_FLIGHT, submit); // warm up like Opspawn's run
    const t0 = performance.now();
    await inParallel(tasks, IN_FLIGHT, submit);
    await untilNone(
      async () =>
        (await db.query(`SELECT count(*)::int AS n FROM ${schema}.tasks WHERE status <> 'succeeded'`)).rows[0].n,
    );
    return tasks / ((performance.now() - t0) / 1000);
  } finally {
    await stopAll(children);
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.end();
    await deleteRedisKeys(`bq:${queue}:*`);
  }
}

async function graphileWorker(jobs: number): Promise<number> {
  const schema = `bench_graphile_${process.pid}`;
  const utils = await makeWorkerUtils({ connectionString: POSTGRES_URL, schema, maxPoolSize: 16 });
  await utils.migrate();
  const worker = fixture('graphile-worker.ts', [POSTGRES_URL, schema, String(CONCURRENCY)]);
  const db = new pg.Client({ connectionString: POSTGRES_URL });
  await db.connect();
  try {
    await firstLine(worker);
    const t0 = performance.now();
    await inParallel(jobs, IN_FLIGHT, (n) => utils.addJob('noop', { n }));
    await untilNone(async () => (await db.query(`SELECT count(*)::int AS n FROM ${schema}._private_jobs`)).rows[0].n);
    return jobs / ((performance.now() - t0) / 1000);
  } finally {
    await stopAll([worker]);
    await utils.release();
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.end();
  }
}

const noOp = (run: string) => (i: number) => ({
  goal: `${run} ${i}`,
  input: { plan: [], final: 'ok' },
  labels: { run },
});

/** Submits `count` tasks in batches of BATCH on `POST /v1/tasks/batch`, BATCHES_IN_FLIGHT at a time. */
async function submitBatches(url: string, count: number, run: string): Promise<void> {
  const request = noOp(run);
  await inParallel(Math.ceil(count / BATCH), BATCHES_IN_FLIGHT, async (b) => {
    const tasks = Array.from({ length: Math.min(BATCH, count - b * BATCH) }, (_, i) => request(b * BATCH + i));
    const response = await fetch(`${url}/v1/tasks/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks }),
    });
    if (response.status !== 202)
      throw new Error(`the batch endpoint answered ${response.status}: ${await response.text()}`);
    await response.json();
  });
}

/** Where an Opspawn run's CPU went, in milliseconds per task. */
interface CpuPerTask {
  postgres: number;
  redis: number;
  api: number;
  workers: number;
}

/** PostgreSQL statements per task (warm-up included) sent by the API process and the workers, from COUNT_DIR. */
function statementsPerTask(pids: number[], tasks: number): string {
  const count = (pid: number) => {
    const file = join(COUNT_DIR!, `${pid}.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { statements: number }).statements : NaN;
  };
  const [api, ...workers] = pids.map(count);
  const per = (n: number) => (n / tasks).toFixed(2);
  return `PostgreSQL statements per task: api ${per(api!)}, workers ${per(workers.reduce((a, b) => a + b, 0))}`;
}

async function opspawn(workers: number, tasks: number, batches: boolean): Promise<{ rate: number; cpu: CpuPerTask }> {
  const cluster = new Cluster({ OPSPAWN_CONCURRENCY: String(CONCURRENCY), OPSPAWN_LOG_LEVEL: 'error' });
  const nodeArgs = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
  if (COUNT_DIR)
    nodeArgs.push('--import', fileURLToPath(new URL('./fixtures/count-pg-statements.mjs', import.meta.url)));
  let pids: number[] = [];
  try {
    await cluster.startApi(nodeArgs);
    for (let i = 0; i < workers; i++) await cluster.startWorker({}, nodeArgs);
    // Warm up connections, JIT and the schema before timing.
    await submitMany(cluster.api!, 200, IN_FLIGHT, noOp('warm'));
    await cluster.settle('warm', 120_000);
    pids = cluster.processes.map((p) => p.pid);
    const before = cpuSeconds(pids);
    const t0 = performance.now();
    if (batches) await submitBatches(cluster.apiUrl!, tasks, 'bench');
    else await submitMany(cluster.api!, tasks, IN_FLIGHT, noOp('bench'));
    const done = await cluster.settle('bench', 600_000);
    const elapsed = (performance.now() - t0) / 1000;
    const after = cpuSeconds(pids);
    const perTask = (seconds: number) => (seconds * 1000) / tasks;
    const spent = after.pids.map((s, i) => s - before.pids[i]!);
    const cpu = {
      postgres: perTask(after.postgres - before.postgres),
      redis: perTask(after.redis - before.redis),
      api: perTask(spent[0]!),
      workers: perTask(spent.slice(1).reduce((a, b) => a + b, 0)),
    };
    const failed = done.filter((t) => t.status !== 'succeeded').length;
    if (failed > 0 || done.length !== tasks) throw new Error(`${failed} of ${done.length} bench tasks did not succeed`);
    return { rate: tasks / elapsed, cpu };
  } finally {
    await cluster.stop();
    if (COUNT_DIR)
      console.log(`    ${batches ? 'batch' : 'single'}, ${workers} worker(s): ${statementsPerTask(pids, tasks + 200)}`);
  }
}

/** Graphile Worker and Opspawn single submits, alternating: the median ratio of each pair. */
async function alternate(rounds: number): Promise<void> {
  console.log(`${rounds} rounds of Graphile Worker (1 worker) then Opspawn single submits, ${TASKS} tasks each`);
  for (const workers of WORKERS) {
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const graphile = await graphileWorker(TASKS);
      const single = await opspawn(workers, TASKS, false);
      ratios.push(single.rate / graphile);
      console.log(
        `  ${workers} worker(s), round ${round + 1}: graphile ${rate(graphile)}, opspawn single ${rate(single.rate)} (${pct(single.rate, graphile)}; CPU ms per task: postgres ${single.cpu.postgres.toFixed(2)}, api ${single.cpu.api.toFixed(2)}, workers ${single.cpu.workers.toFixed(2)}; load ${loadavg()[0]!.toFixed(1)})`,
      );
    }
    const sorted = [...ratios].sort((a, b) => a - b);
    console.log(`${workers} worker(s): median single/graphile ${pct(sorted[Math.floor(sorted.length / 2)]!, 1)}`);
  }
}

interface Row {
  workers: number;
  raw: number;
  bare: number;
  graphile: number;
  single: number;
  batch: number;
  singleCpu: CpuPerTask;
  batchCpu: CpuPerTask;
  load: number;
}

const rate = (n: number) => n.toFixed(0);
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;

export default async function bench(): Promise<void> {
  if (!(await reachable(6379)) || !(await reachable(5432))) {
    console.log('SKIPPED: needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (start them, or see .ci/run)');
    return;
  }
  console.log(
    `${TASKS} no-op tasks per run, ${IN_FLIGHT} submissions in flight (batches: ${BATCH} tasks, ${BATCHES_IN_FLIGHT} in flight), concurrency ${CONCURRENCY} per worker process`,
  );
  if (ALTERNATE > 0) return alternate(ALTERNATE);
  const rows: Row[] = [];
  for (const workers of WORKERS) {
    const raw = await rawBeeQueue(workers, TASKS);
    const bare = await bareStack(workers, TASKS);
    const graphile = await graphileWorker(TASKS);
    const single = await opspawn(workers, TASKS, false);
    const batch = await opspawn(workers, TASKS, true);
    const row: Row = {
      workers,
      raw,
      bare,
      graphile,
      single: single.rate,
      batch: batch.rate,
      singleCpu: single.cpu,
      batchCpu: batch.cpu,
      load: loadavg()[0]!,
    };
    rows.push(row);
    console.log(
      `  ${workers} worker(s): raw ${rate(row.raw)}, bare ${rate(row.bare)}, graphile ${rate(row.graphile)}, opspawn ${rate(row.single)} single / ${rate(row.batch)} batch (load ${row.load.toFixed(1)})`,
    );
  }
  // A baseline's ceiling on this machine: its best rate in this run, whatever the number of workers.
  const ceiling = {
    raw: Math.max(...rows.map((r) => r.raw)),
    bare: Math.max(...rows.map((r) => r.bare)),
    graphile: Math.max(...rows.map((r) => r.graphile)),
  };
  console.log(
    '\ntasks or jobs per second, submit → done; opspawn single = one REST submit per task, batch = POST /v1/tasks/batch',
  );
  // Next to each ratio, in brackets, the ceiling of the baseline it divides by.
  console.log(
    'workers | raw bee-queue | bare stack | graphile (1 worker) | opspawn single | opspawn batch | single/bare (ceiling) | batch/bare (ceiling) | single/raw (ceiling) | batch/raw (ceiling) | single/graphile (ceiling) | batch/graphile (ceiling) | load',
  );
  const of = (a: number, b: number, top: number) => `${pct(a, b)} (${rate(top)})`;
  for (const r of rows) {
    console.log(
      [
        String(r.workers).padStart(7),
        rate(r.raw).padStart(13),
        rate(r.bare).padStart(10),
        rate(r.graphile).padStart(19),
        rate(r.single).padStart(14),
        rate(r.batch).padStart(13),
        of(r.single, r.bare, ceiling.bare).padStart(21),
        of(r.batch, r.bare, ceiling.bare).padStart(20),
        of(r.single, r.raw, ceiling.raw).padStart(20),
        of(r.batch, r.raw, ceiling.raw).padStart(19),
        of(r.single, r.graphile, ceiling.graphile).padStart(25),
        of(r.batch, r.graphile, ceiling.graphile).padStart(24),
        r.load.toFixed(1).padStart(4),
      ].join(' | '),
    );
  }
  const ms = (c: CpuPerTask) =>
    `postgres ${c.postgres.toFixed(2)}, redis ${c.redis.toFixed(2)}, api ${c.api.toFixed(2)}, workers ${c.workers.toFixed(2)}`;
  console.log('\nCPU ms per opspawn task (postgres and redis: every process of theirs on this machine, shared)');
  for (const r of rows) console.log(`${r.workers} worker(s): single ${ms(r.singleCpu)} | batch ${ms(r.batchCpu)}`);
  console.log(
    `ceilings on this machine (best row): raw bee-queue ${rate(ceiling.raw)}/s, bare stack ${rate(ceiling.bare)}/s, graphile ${rate(ceiling.graphile)}/s; opspawn's best: ${rate(Math.max(...rows.map((r) => r.single)))}/s single, ${rate(Math.max(...rows.map((r) => r.batch)))}/s batch`,
  );
}
