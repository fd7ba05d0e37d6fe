/**
 * Many waiting tasks (issue 18, item 2): a fake OpenAI-compatible server in its own process answers every call after
 * 2 s; one worker runs tasks of planner-openai, each two LLM calls and one call of an in-process tool (so the engine
 * is measured, not a sandbox). At 100, 1,000 and 5,000 in flight (the worker's concurrency), 2 × that many tasks are
 * submitted before the worker starts; printed per size, on the embedded defaults (store-sqlite, broker-memory,
 * memory-buffer; a child process per size) and on the distributed deployment (one worker process on PostgreSQL +
 * bee-queue/Redis):
 *   - tasks/s from the first task started to the last finished, against the ideal (in flight ÷ 2 × delay) and
 *     against a bare loop that makes the same HTTP calls to the same server with the same concurrency, no Opspawn;
 *   - RSS per in-flight task: the worker's peak RSS during the run minus the RSS of the same worker idle, ÷ in flight
 *     (peak RSS counts garbage not yet collected; embedded also prints the RSS mid-run after a full collection);
 *   - event-loop delay p99 and max in the worker (perf_hooks.monitorEventLoopDelay).
 * Targets at 5,000 in flight: >= 80% of the ideal rate, loop delay p99 < 100 ms, < 100 KB RSS per in-flight task.
 * Knobs: BENCH_WAITING_MAX (largest size, default 5000), BENCH_WAITING_SIZES (e.g. 5000), BENCH_WAITING_DELAY_MS
 * (default 2000), BENCH_WAITING_NODE_FLAGS (extra node flags of the embedded run, e.g. --max-semi-space-size=64),
 * BENCH_WAITING_MODES (embedded,distributed), BENCH_WAITING_PROFILE=1 (--cpu-prof of the worker at the
 * largest size, written under the system's temporary folder).
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, type HostProcess } from '../helpers/cluster.js';
import { REPO } from '../helpers/deployment.js';
import { reachable } from '../helpers/services.js';
import { taskRate } from './stats.js';

const MAX = Number(process.env.BENCH_WAITING_MAX ?? 5000);
const SIZES = (process.env.BENCH_WAITING_SIZES?.split(',').map(Number) ?? [100, 1000, 5000]).filter((n) => n <= MAX);
/** Extra node flags of the embedded run's process, e.g. `--max-semi-space-size=64`. */
const NODE_FLAGS = process.env.BENCH_WAITING_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
const DELAY_MS = Number(process.env.BENCH_WAITING_DELAY_MS ?? 2000);
const MODES = (process.env.BENCH_WAITING_MODES ?? 'embedded,distributed').split(',');
const ROUNDS = 2;
const PROFILE_DIR = join(tmpdir(), 'opspawn-bench-waiting-profiles');
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Run {
  rate: number;
  /** Mean of finishedAt − startedAt. */
  taskMs: number;
  rssPerTaskKb: number;
  /** Embedded only: RSS mid-run after a full collection, less before, ÷ in flight. */
  settledRssPerTaskKb?: number;
  lagP99: number;
  lagMax: number;
  failed: number;
}

/** The fake server's connections accepted and requests answered so far (its `GET /stats`). */
async function serverStats(url: string): Promise<{ connections: number; requests: number }> {
  const response = await fetch(new URL('/stats', url), { headers: { connection: 'close' } });
  return (await response.json()) as { connections: number; requests: number };
}

/** Runs `run` and adds the requests it made per connection it opened at the fake server. */
async function countingConnections<T>(url: string, run: () => Promise<T>): Promise<T & { callsPerConnection: number }> {
  const before = await serverStats(url);
  const result = await run();
  const after = await serverStats(url);
  // Less the connection of the `/stats` request itself.
  const opened = after.connections - before.connections - 1;
  return { ...result, callsPerConnection: (after.requests - before.requests) / Math.max(1, opened) };
}

async function startFakeServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture('slow-openai-server.ts'), String(DELAY_MS)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const match = out.match(/listening (\S+)/);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`fake server exited (${code})`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** The same two calls per "task" as planner-openai makes (streamed, read to the end), `inFlight` at a time. */
async function bareLoop(url: string, inFlight: number): Promise<number> {
  const call = async (messages: unknown[]) => {
    const response = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', messages, stream: true, stream_options: { include_usage: true } }),
    });
    await response.text();
    // undici puts the socket back in its pool just after the body's end reaches the caller: a next call made at once
    // would open a connection of its own (2.5 calls per connection instead of 4). Opspawn's work between calls gives
    // it that turn; so does this, so the baseline pays for no more connections than Opspawn does.
    await new Promise(setImmediate);
  };
  let next = 0;
  const total = inFlight * ROUNDS;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        next++;
        await call([{ role: 'user', content: 'bench' }]);
        await call([
          { role: 'user', content: 'bench' },
          { role: 'tool', tool_call_id: 'call_0', content: '{"text":"hi"}' },
        ]);
      }
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

/** The embedded run in a process of its own (fixtures/waiting-embedded.ts), so each size starts from a fresh heap. */
async function embedded(url: string, inFlight: number): Promise<Run> {
  const profile = process.env.BENCH_WAITING_PROFILE === '1' && inFlight === SIZES.at(-1);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--expose-gc',
      ...NODE_FLAGS,
      ...(profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []),
      fixture('waiting-embedded.ts'),
      url,
      String(inFlight),
      String(ROUNDS),
      String(DELAY_MS),
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  const line = out.match(/^result (.*)$/m);
  if (!line) throw new Error(`embedded run at ${inFlight} in flight exited (${code}) without a result:\n${out}`);
  return JSON.parse(line[1]!) as Run;
}

/**
 * One API process and a worker: a first worker warms up and gives the RSS of a warm idle worker; then every task is
 * submitted with no worker running, and a second worker, started after, runs them all, so the rate measures the
 * worker and not how fast REST takes 10,000 submissions.
 */
async function distributed(url: string, inFlight: number): Promise<Run> {
  const cluster = new Cluster(
    { OPENAI_BASE_URL: url, OPSPAWN_CONCURRENCY: String(inFlight), OPSPAWN_LOG_LEVEL: 'error' },
    fixture('waiting.config.ts'),
  );
  try {
    await cluster.startApi();
    const warm = await cluster.startWorker({}, ['--import', fixture('loop-probe.mjs')]);
    await submitAll(cluster, Math.min(inFlight, 50), 'warm');
    await cluster.settle('warm', 120_000);
    const idle = await probe(warm);
    warm.child.kill('SIGTERM');
    await warm.exited;
    await submitAll(cluster, inFlight * ROUNDS, 'bench');
    const profile = process.env.BENCH_WAITING_PROFILE === '1' && inFlight === SIZES.at(-1);
    const worker = await cluster.startWorker({}, [
      '--import',
      fixture('loop-probe.mjs'),
      ...(profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []),
    ]);
    const done = await cluster.settle('bench', 600_000);
    const run = await probe(worker);
    return {
      ...taskRate(done),
      rssPerTaskKb: (run.peakRss - idle.rss) / 1024 / inFlight,
      lagP99: run.p99,
      lagMax: run.max,
    };
  } finally {
    await cluster.stop();
  }
}

/** Asks a worker's loop probe (fixtures/loop-probe.mjs) for its numbers since the last ask. */
async function probe(worker: HostProcess): Promise<{ p99: number; max: number; rss: number; peakRss: number }> {
  const seen = worker.output.match(/loop-probe /g)?.length ?? 0;
  worker.child.kill('SIGUSR2');
  await worker.waitFor(new RegExp(`(?:loop-probe [^\\n]*\\n[^]*){${seen + 1}}`));
  return JSON.parse(
    worker.output
      .match(/loop-probe (.*)\n/g)!
      .at(-1)!
      .slice('loop-probe '.length),
  );
}

async function submitAll(cluster: Cluster, count: number, run: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const i = next++;
        await cluster.api!.submit({ goal: `${run} ${i}`, labels: { run } });
      }
    }),
  );
}

export default async function bench(): Promise<void> {
  const server = await startFakeServer();
  try {
    console.log(
      `each task: 2 LLM calls answered after ${DELAY_MS} ms + 1 in-process tool call; ${ROUNDS} × in-flight tasks per run`,
    );
    console.log(
      'mode        | in flight | ideal/s | bare loop/s | opspawn/s | % ideal | % bare | task ms | RSS/task | after a gc | loop p99 | loop max | calls/conn',
    );
    for (const mode of MODES) {
      if (mode === 'distributed' && (!(await reachable(6379)) || !(await reachable(5432)))) {
        console.log('distributed SKIPPED: needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432');
        continue;
      }
      for (const inFlight of SIZES) {
        const ideal = inFlight / ((2 * DELAY_MS) / 1000);
        const { rate: bare, callsPerConnection: bareReuse } = await countingConnections(server.url, async () => ({
          rate: await bareLoop(server.url, inFlight),
        }));
        const run = await countingConnections(server.url, () =>
          mode === 'embedded' ? embedded(server.url, inFlight) : distributed(server.url, inFlight),
        );
        console.log(
          [
            mode.padEnd(11),
            String(inFlight).padStart(9),
            ideal.toFixed(0).padStart(7),
            bare.toFixed(0).padStart(11),
            run.rate.toFixed(0).padStart(9),
            `${((run.rate / ideal) * 100).toFixed(0)}%`.padStart(7),
            `${((run.rate / bare) * 100).toFixed(0)}%`.padStart(6),
            run.taskMs.toFixed(0).padStart(7),
            `${run.rssPerTaskKb.toFixed(0)} KB`.padStart(8),
            (run.settledRssPerTaskKb === undefined ? '-' : `${run.settledRssPerTaskKb.toFixed(0)} KB`).padStart(11),
            `${run.lagP99.toFixed(0)} ms`.padStart(8),
            `${run.lagMax.toFixed(0)} ms`.padStart(8),
            `${bareReuse.toFixed(1)} / ${run.callsPerConnection.toFixed(1)}${run.failed > 0 ? `  (${run.failed} failed)` : ''}`.padStart(
              10,
            ),
          ].join(' | '),
        );
      }
    }
    console.log('calls/conn: LLM calls per TCP connection opened at the fake server, bare loop / opspawn');
    console.log('targets at 5,000 in flight: >= 80% of ideal, loop p99 < 100 ms, < 100 KB RSS per in-flight task');
  } finally {
    server.stop();
  }
}
