/**
 * Task throughput on the embedded defaults, in-process: store-sqlite (WAL file) + broker-memory + planner-scripted +
 * memory-buffer, each task a scripted plan with one tool call (an in-process no-op tool). Prints tasks/s and
 * submit→final latency (p50, p99) next to the raw insert rate of the same SQLite file measured in the same run
 * (one prepared INSERT of a similar row per transaction). Targets: at least 2,000 tasks/s, and one task costing at most
 * 8 raw inserts (issue 18, item 5; ADR 0022). The ratio is the number to watch on a shared machine: both rates move
 * with the load, their ratio much less. Then the same tasks on two kernels alive at once, with and without
 * metrics-prometheus, fed batches in turn: the cost of metrics on the task path (issue 16's target: at least 95% of
 * metrics off; tracing is off in both, which is the default).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type PluginEntry, services, type TaskService } from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';
import { toolsPlugin } from '../helpers/inline-plugins.js';
import { fmt, summarize } from './stats.js';

const TASKS = 5000;
/** A task may cost at most this many raw inserts of the same file (ADR 0022). */
const MAX_INSERTS_PER_TASK = 8;

/** A rate by the wall clock, and by the CPU time this process used (less sensitive to other processes' load). */
interface Rate {
  perSecond: number;
  perCpuSecond: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

async function throughput(tasks: TaskService, count: number): Promise<Rate & { latencies: number[] }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const submitted = performance.now();
      const { task } = await tasks.submit({
        goal: `bench ${i}`,
        input: { plan: [{ tool: 'b__noop', arguments: { i } }] },
      });
      for await (const e of tasks.watch(task.id)) void e;
      latencies.push(performance.now() - submitted);
    }),
  );
  return {
    perSecond: count / ((performance.now() - t0) / 1000),
    perCpuSecond: count / cpuSeconds(cpu0),
    latencies,
  };
}

/** Closed loop: `clients` callers each submit a task and wait for it to finish, again and again. */
async function closedLoop(tasks: TaskService, clients: number, perClient: number): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const t0 = performance.now();
        const { task } = await tasks.submit({
          goal: `loop ${c}/${i}`,
          input: { plan: [{ tool: 'b__noop', arguments: { i } }] },
        });
        for await (const e of tasks.watch(task.id)) void e;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

/** Raw inserts into the bench's own table of the same file; `run` keeps the keys of each measurement apart. */
function rawInsertRate(path: string, count: number, run: number): Rate {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS raw_bench (id TEXT PRIMARY KEY, goal TEXT, input TEXT, status TEXT, labels TEXT, created_at TEXT) WITHOUT ROWID',
  );
  const insert = db.prepare('INSERT INTO raw_bench VALUES (?, ?, ?, ?, ?, ?)');
  const one = db.transaction((i: number) =>
    insert.run(
      `raw_${run}_${i}`,
      `bench ${i}`,
      '{"plan":[{"tool":"b__noop","arguments":{}}]}',
      'queued',
      '{}',
      new Date().toISOString(),
    ),
  );
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) one(i);
  const rate = { perSecond: count / ((performance.now() - t0) / 1000), perCpuSecond: count / cpuSeconds(cpu0) };
  db.close();
  return rate;
}

/** The bench's embedded kernel on the SQLite file `path`, with `extra` plugins. */
function benchKernel(path: string, extra: PluginEntry[] = []) {
  return startTestKernel({
    plugins: [
      { use: '@opspawn/store-sqlite', options: { path } },
      '@opspawn/broker-memory',
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
      {
        use: toolsPlugin('bench-tools', 'b', [
          { name: 'noop', description: 'does nothing', inputSchema: { type: 'object' }, run: () => null },
        ]),
      },
      ...extra,
    ],
    tasks: { concurrency: 64 },
  });
}

/** Batches of the metrics comparison, and tasks per batch. */
const METRIC_PAIRS = 20;
const METRIC_BATCH = 500;

/**
 * Metrics-prometheus off and on, on two kernels alive at once (each its own file), fed batches in turn, off-on then
 * on-off: both see the same heap, JIT and machine load within seconds of each other. Kernels measured one after the
 * other (the first method) moved by more than the effect: the second of a pair inherited the garbage of the first.
 */
async function metricsCost(dir: string): Promise<{ off: Rate; on: Rate; pairs: number[] }> {
  const off = await benchKernel(join(dir, 'metrics-off.db'));
  const on = await benchKernel(join(dir, 'metrics-on.db'), [
    { use: '@opspawn/metrics-prometheus', options: { scope: 'public' } },
  ]);
  try {
    const tasks = { off: off.get(services.taskService), on: on.get(services.taskService) };
    await throughput(tasks.off, 1000);
    await throughput(tasks.on, 1000);
    const seconds = { off: { wall: 0, cpu: 0 }, on: { wall: 0, cpu: 0 } };
    const pairs: number[] = [];
    for (let i = 0; i < METRIC_PAIRS; i++) {
      const rates: Partial<Record<'off' | 'on', Rate>> = {};
      for (const side of i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const rate = await throughput(tasks[side], METRIC_BATCH);
        rates[side] = rate;
        seconds[side].wall += METRIC_BATCH / rate.perSecond;
        seconds[side].cpu += METRIC_BATCH / rate.perCpuSecond;
      }
      pairs.push(rates.on!.perCpuSecond / rates.off!.perCpuSecond);
    }
    const total = METRIC_PAIRS * METRIC_BATCH;
    const rate = (side: 'off' | 'on'): Rate => ({
      perSecond: total / seconds[side].wall,
      perCpuSecond: total / seconds[side].cpu,
    });
    return { off: rate('off'), on: rate('on'), pairs };
  } finally {
    await off.stop();
    await on.stop();
  }
}

export default async function bench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-bench-tasks-'));
  const path = join(dir, 'bench.db');
  try {
    const kernel = await benchKernel(path);
    const tasks = kernel.get(services.taskService);
    await throughput(tasks, 500); // warm-up
    rawInsertRate(path, 2000, 0); // warm-up
    // The baseline is measured right before and right after the tasks, and averaged: the load of a shared machine
    // changes within seconds.
    const before = rawInsertRate(path, TASKS * 2, 1);
    const { perSecond, perCpuSecond, latencies } = await throughput(tasks, TASKS);
    const after = rawInsertRate(path, TASKS * 2, 2);
    const loop = summarize(await closedLoop(tasks, 16, 100));
    await kernel.stop();
    const raw = (before.perSecond + after.perSecond) / 2;
    const rawCpu = (before.perCpuSecond + after.perCpuSecond) / 2;
    const lat = summarize(latencies);
    console.log(
      `embedded defaults (store-sqlite WAL + broker-memory + planner-scripted), ${TASKS} tasks with one tool call, all submitted at once:`,
    );
    console.log(
      `  tasks/s                  ${perSecond.toFixed(0)}   target >= 2000: ${perSecond >= 2000 ? 'met' : 'NOT met'}`,
    );
    console.log(
      `  submit -> final latency  p50 ${fmt(lat.p50)}  p99 ${fmt(lat.p99)}  (queueing included: every task is submitted at t=0)`,
    );
    console.log(
      `  submit -> final latency  p50 ${fmt(loop.p50)}  p99 ${fmt(loop.p99)}  (closed loop: 16 callers, each waits for its task)`,
    );
    console.log(
      `  raw SQLite insert rate   ${raw.toFixed(0)} rows/s on the same file (one transaction per insert; ${before.perSecond.toFixed(0)} before the tasks, ${after.perSecond.toFixed(0)} after)`,
    );
    const ratio = raw / perSecond;
    console.log(
      `  ratio                    one task costs as much as ${ratio.toFixed(1)} raw inserts (a task writes the row, 7 events and 2 transitions)   target <= ${MAX_INSERTS_PER_TASK}: ${ratio <= MAX_INSERTS_PER_TASK ? 'met' : 'NOT met'}`,
    );
    console.log(
      `  ratio by CPU time        ${(rawCpu / perCpuSecond).toFixed(1)} raw inserts (${perCpuSecond.toFixed(0)} tasks and ${rawCpu.toFixed(0)} inserts per CPU second of this process)`,
    );
    const metrics = await metricsCost(dir);
    const pct = (on: number, off: number) => `${((on / off) * 100).toFixed(0)}%`;
    const pairs = [...metrics.pairs].sort((x, y) => x - y);
    const share = metrics.on.perSecond / metrics.off.perSecond;
    console.log(
      `  metrics off / on         ${metrics.off.perSecond.toFixed(0)} / ${metrics.on.perSecond.toFixed(0)} tasks/s (${METRIC_PAIRS} pairs of ${METRIC_BATCH}-task batches on two live kernels, in turn)`,
    );
    console.log(
      `  metrics on               ${pct(metrics.on.perSecond, metrics.off.perSecond)} of metrics off by the wall clock, ${pct(metrics.on.perCpuSecond, metrics.off.perCpuSecond)} by CPU time (pairs by CPU: median ${(pairs[pairs.length >> 1]! * 100).toFixed(0)}%, ${(pairs[0]! * 100).toFixed(0)}-${(pairs.at(-1)! * 100).toFixed(0)}%)   target >= 95%: ${share >= 0.95 ? 'met' : 'NOT met'}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
