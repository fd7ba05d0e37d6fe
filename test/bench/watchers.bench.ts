/**
 * Live watchers (issue 18, item 3): 1,000 SSE streams and 1,000 gRPC Watch streams on one API process of the
 * distributed deployment (PostgreSQL + bee-queue/Redis), following 100 running tasks (10 + 10 streams per task) that
 * a worker process runs: once every stream is open, each task sleeps in an in-process tool 20 times, 300 ms each, writing a tool_call and a
 * tool_result event per step. Printed: delivery latency p50 / p99 of every event written once all streams were open,
 * from the event's `at` (set when the worker writes it to the store) to its arrival at the client, per kind; and the
 * API process's CPU (share of one core) and peak RSS during the run. Baseline in the same run, on the same worker
 * and the same Redis messages: a bare koa SSE route and a bare grpc-js Watch fanning the events out with no store and
 * no replay (fixtures/bare-fanout-server.ts). Target: p99 < 100 ms with 1,000 streams of each kind.
 * Knobs: BENCH_WATCHERS (streams of each kind, default 1000), BENCH_WATCHERS_TASKS (default 100),
 * BENCH_WATCHERS_PROFILE=1 (--cpu-prof of the API process, under the system's temporary folder).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Cluster } from '../helpers/cluster.js';
import { REPO } from '../helpers/deployment.js';
import { REDIS_URL, reachable } from '../helpers/services.js';
import { fmt, summarize } from './stats.js';
import { loadGrpcService } from '../helpers/grpc-service.js';

const STREAMS = Number(process.env.BENCH_WATCHERS ?? 1000);
const TASKS = Number(process.env.BENCH_WATCHERS_TASKS ?? 100);
const STEPS = 20;
const STEP_MS = 300;
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface StreamEvent {
  type: string;
  at: string;
}

/** What a stream saw: each event's write time and its latency, and when the stream first answered. */
interface Seen {
  samples: Array<[at: number, latency: number]>;
  opened: number[];
}

/** Follows one task over SSE. */
function sseStream(base: string, taskId: string, seen: Seen): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/tasks/${taskId}/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
      seen.opened.push(Date.now());
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = Date.now();
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (!data) continue;
          const at = Date.parse((JSON.parse(data.slice(6)) as StreamEvent).at);
          seen.samples.push([at, now - at]);
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Follows one task over gRPC Watch on `client`. */
function watchStream(client: any, taskId: string, seen: Seen): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.Watch({ id: taskId });
    call.on('metadata', () => seen.opened.push(Date.now()));
    call.on('data', (event: StreamEvent) => {
      const at = Date.parse(event.at);
      seen.samples.push([at, Date.now() - at]);
    });
    call.on('end', resolve);
    call.on('error', reject);
  });
}

/** CPU seconds (user + system) and RSS of a process, from /proc; undefined once it has exited. */
function procStats(pid: number): { cpu: number; rss: number } | undefined {
  if (!existsSync(`/proc/${pid}/stat`)) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
  const rss = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) * 1024;
  return { cpu, rss };
}

interface Result {
  sse: number[];
  grpc: number[];
  /** From the first stream asked for to the last one answering. */
  openMs: number;
  cpuShare: number;
  peakRssMb: number;
  baseRssMb: number;
}

/** Submits TASKS sleeping tasks, opens STREAMS of each kind on them, waits for every stream to end. */
async function measure(
  cluster: Cluster,
  run: string,
  sseBase: string,
  grpcAddress: string,
  pid: number,
): Promise<Result> {
  const gate = join(mkdtempSync(join(tmpdir(), 'opspawn-bench-watchers-')), 'open');
  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const plan = [
      { tool: 'b__gate', arguments: { file: gate } },
      ...Array.from({ length: STEPS }, () => ({ tool: 'b__sleep', arguments: { ms: STEP_MS } })),
    ];
    ids.push((await cluster.api!.submit({ goal: `${run} ${i}`, labels: { run }, input: { plan } })).id);
  }
  const Service = loadGrpcService('tasks', 'TaskService');
  // One channel per 100 streams, as many clients would have.
  const clients = Array.from(
    { length: Math.ceil(STREAMS / 100) },
    (_, i) => new Service(grpcAddress, grpc.credentials.createInsecure(), { 'grpc.bench_channel': i }),
  );
  const sse: Seen = { samples: [], opened: [] };
  const watch: Seen = { samples: [], opened: [] };
  const before = procStats(pid)!;
  let peak = before.rss;
  const sampler = setInterval(() => (peak = Math.max(peak, procStats(pid)?.rss ?? 0)), 100);
  const t0 = performance.now();
  const asked = Date.now();
  const streams = Promise.all([
    ...Array.from({ length: STREAMS }, (_, i) => sseStream(sseBase, ids[i % TASKS]!, sse)),
    ...Array.from({ length: STREAMS }, (_, i) => watchStream(clients[i % clients.length], ids[i % TASKS]!, watch)),
  ]);
  while (sse.opened.length + watch.opened.length < 2 * STREAMS) await new Promise((r) => setTimeout(r, 20));
  writeFileSync(gate, '');
  await streams;
  rmSync(dirname(gate), { recursive: true, force: true });
  const seconds = (performance.now() - t0) / 1000;
  // Only events written once every stream was open: the live fan-out, not the replay of a stream catching up.
  const allOpen = Math.max(...sse.opened, ...watch.opened);
  const live = (s: Seen) => s.samples.filter(([at]) => at >= allOpen).map(([, latency]) => latency);
  clearInterval(sampler);
  const after = procStats(pid);
  if (!after) throw new Error(`process ${pid} exited during the run`);
  for (const c of clients) c.close();
  await cluster.settle(run, 120_000);
  return {
    sse: live(sse),
    grpc: live(watch),
    openMs: allOpen - asked,
    cpuShare: (after.cpu - before.cpu) / seconds,
    peakRssMb: Math.max(peak, after.rss) / 2 ** 20,
    baseRssMb: before.rss / 2 ** 20,
  };
}

async function startBare(queue: string): Promise<{ http: string; grpc: string; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture('bare-fanout-server.ts'), REDIS_URL, queue], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [http, address] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const match = out.match(/listening (\S+) (\S+)/);
      if (match) resolve([match[1]!, match[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
  });
  return { http, grpc: address, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

function print(name: string, r: Result): void {
  const sse = summarize(r.sse);
  const watch = summarize(r.grpc);
  console.log(
    `${name.padEnd(26)} | SSE p50 ${fmt(sse.p50).padStart(9)} p99 ${fmt(sse.p99).padStart(9)} (${sse.n} events) | Watch p50 ${fmt(watch.p50).padStart(9)} p99 ${fmt(watch.p99).padStart(9)} (${watch.n} events) | all open after ${fmt(r.openMs)} | CPU ${(r.cpuShare * 100).toFixed(0)}% of a core | RSS ${r.baseRssMb.toFixed(0)} -> ${r.peakRssMb.toFixed(0)} MB`,
  );
}

export default async function bench(): Promise<void> {
  if (!(await reachable(6379)) || !(await reachable(5432))) {
    console.log('SKIPPED: needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (start them, or see .ci/run)');
    return;
  }
  console.log(
    `${STREAMS} SSE + ${STREAMS} gRPC Watch streams on one API process, following ${TASKS} running tasks (${STEPS} steps of ${STEP_MS} ms each); latency from the event's store write to the client`,
  );
  const cluster = new Cluster({ OPSPAWN_LOG_LEVEL: 'error' }, fixture('watchers.config.ts'));
  const bare = await startBare(cluster.queue);
  try {
    const profile = process.env.BENCH_WATCHERS_PROFILE === '1';
    const api = await cluster.startApi(
      profile ? ['--cpu-prof', '--cpu-prof-dir', join(tmpdir(), 'opspawn-bench-watchers-profiles')] : [],
    );
    const [, grpcAddress] = await api.waitFor(/grpc listening on (\S+)/i);
    await cluster.startWorker();
    await measure(cluster, 'warm', cluster.apiUrl!, grpcAddress!, api.pid); // connections, JIT
    // Each twice, alternating, so a change in the machine's load shows as a difference between the two rounds.
    for (const round of [1, 2]) {
      print(
        `opspawn API process (${round})`,
        await measure(cluster, `opspawn${round}`, cluster.apiUrl!, grpcAddress!, api.pid),
      );
      print(
        `bare koa SSE + grpc-js (${round})`,
        await measure(cluster, `bare${round}`, bare.http, bare.grpc, bare.pid),
      );
    }
    console.log('target: p99 < 100 ms with 1,000 streams of each kind');
  } catch (error) {
    for (const p of cluster.processes) console.error(`--- ${p.name}\n${p.output.slice(-2000)}`);
    throw error;
  } finally {
    bare.stop();
    await cluster.stop();
  }
}
