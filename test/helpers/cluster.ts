import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import redis from 'redis';
import { RestClient } from '@opspawn/core';
import type { Task, TaskEvent } from '@opspawn/plugin-sdk';
import { CLI, REPO } from './deployment.js';
import { POSTGRES_URL, REDIS_URL } from './services.js';

export const DISTRIBUTED_CONFIG = join(REPO, 'config/distributed.config.ts');

/** One `opspawn` process of a cluster, started the way the distributed how-to says. */
export class HostProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d));
    child.stderr!.on('data', (d: Buffer) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once `pattern` shows in the output; fails with the output if the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (exited || Date.now() > deadline)
        throw new Error(`${this.name} ${exited ? 'exited' : 'timed out'} before printing ${pattern}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/**
 * A distributed deployment on this machine's PostgreSQL and Redis, isolated by its own schema and queue name:
 * API and worker processes are real `opspawn` processes on config/distributed.config.ts. A fault test passes
 * `REDIS_URL` (a `PrivateRedis`) or `DATABASE_URL` (a `TcpProxy`) in `env` to point every process elsewhere.
 */
export class Cluster {
  readonly schema = `opspawn_e2e_${process.pid}_${Date.now().toString(36)}`;
  readonly queue = `e2e-${process.pid}-${Date.now().toString(36)}`;
  readonly processes: HostProcess[] = [];
  private stopping = false;
  api?: RestClient;
  apiUrl?: string;

  /** `config`: another deployment's config file (for its plugins), with the same environment. */
  constructor(
    private readonly env: NodeJS.ProcessEnv = {},
    private readonly config = DISTRIBUTED_CONFIG,
  ) {}

  private spawnHost(name: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): HostProcess {
    // A process started after `stop` began (a drill restarting one when Ctrl-C came) would outlive the cluster.
    if (this.stopping) throw new Error(`cluster is stopping: ${name} not started`);
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args, '--config', this.config], {
      cwd: REPO,
      env: {
        ...process.env,
        NO_COLOR: '1',
        OPSPAWN_CONFIG: '',
        DATABASE_URL: POSTGRES_URL,
        REDIS_URL,
        OPSPAWN_PG_SCHEMA: this.schema,
        OPSPAWN_QUEUE: this.queue,
        OPSPAWN_HTTP_PORT: '0',
        OPSPAWN_GRPC_PORT: '0',
        OPSPAWN_LOG_LEVEL: 'warn',
        ...this.env,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const host = new HostProcess(name, child);
    this.processes.push(host);
    return host;
  }

  /** `env` adds to this process's environment, e.g. a fixed OPSPAWN_HTTP_PORT to restart it at the same address. */
  async startApi(nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<HostProcess> {
    const api = this.spawnHost('api', ['start', '--role', 'api'], env, nodeArgs);
    const [, url] = await api.waitFor(/http listening on (http:\/\/\S+)/);
    this.apiUrl = url!;
    this.api = new RestClient({ url: url! });
    return api;
  }

  /** `nodeArgs` go to node itself, e.g. --cpu-prof to profile a worker. */
  async startWorker(env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<HostProcess> {
    const worker = this.spawnHost(`worker ${this.processes.length}`, ['worker'], env, nodeArgs);
    await worker.waitFor(/press Ctrl-C to stop/);
    return worker;
  }

  /** A task's events as JSON (replay), through the API process. */
  async events(taskId: string): Promise<TaskEvent[]> {
    const response = await fetch(`${this.apiUrl}/v1/tasks/${taskId}/events?limit=1000`);
    return ((await response.json()) as { events: TaskEvent[] }).events;
  }

  /** Every task with label run=`run`, through the API's paged list. */
  async tasks(run: string): Promise<Task[]> {
    const all: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.api!.list({ labels: { run }, limit: 500, cursor });
      all.push(...page.tasks);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  }

  /** Polls until no task of `run` is queued or running. */
  async settle(run: string, timeoutMs: number): Promise<Task[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const open = await this.api!.list({ labels: { run }, status: ['queued', 'running'], limit: 1 });
      if (open.tasks.length === 0) return this.tasks(run);
      if (Date.now() > deadline) {
        const counts = countBy(await this.tasks(run), (t) => t.status);
        throw new Error(
          `tasks of ${run} did not settle within ${timeoutMs} ms: ${JSON.stringify(counts)}\n${this.processes.map((p) => `--- ${p.name}\n${p.output.slice(-3000)}`).join('\n')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** SIGTERM to every process still running, SIGKILL after 15 s; then drops the schema and the queue's keys. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.processes.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        p.child.kill('SIGTERM');
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client
      .connect()
      .then(() => client.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`))
      .catch(() => undefined);
    await client.end().catch(() => undefined);
    await deleteRedisKeys(`*${this.queue}*`, this.env.REDIS_URL ?? REDIS_URL);
  }
}

/** The cluster of the fault tests and drills: workers run 8 tasks each at most; `env` (at least REDIS_URL) adds to every process's environment. */
export function faultCluster(env: NodeJS.ProcessEnv): Cluster {
  return new Cluster({ OPSPAWN_CONCURRENCY: '8', ...env });
}

/** Starts the fault tests' deployment on `cluster`: one API process (with `apiEnv` added) and two workers. */
export async function startApiAndTwoWorkers(
  cluster: Cluster,
  apiEnv: NodeJS.ProcessEnv = {},
): Promise<[HostProcess, HostProcess, HostProcess]> {
  const api = await cluster.startApi([], apiEnv);
  return [api, await cluster.startWorker(), await cluster.startWorker()];
}

/** Both, for a test that has a cluster to stop only once this returns: stops what it started if a process fails. */
export async function apiAndTwoWorkers(env: NodeJS.ProcessEnv): Promise<[Cluster, HostProcess, HostProcess]> {
  const cluster = faultCluster(env);
  try {
    const [, first, second] = await startApiAndTwoWorkers(cluster);
    return [cluster, first, second];
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** A task of `steps` sandboxed calculations ending in `i + steps - 1`: long enough to be caught running. */
export function calculationTask(run: string, i: number, steps = 15): Parameters<RestClient['submit']>[0] {
  return {
    goal: `fault test ${i}`,
    labels: { run },
    input: {
      plan: Array.from({ length: steps }, (_, s) => ({
        tool: 'js__calculate',
        arguments: { expression: `${i} + ${s}` },
      })),
      final: '{{ last.output.value }}',
    },
  };
}

/** Polls the API until at least `count` tasks of `run` are running. */
export async function untilRunning(cluster: Cluster, run: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await cluster.api!.list({ labels: { run }, status: ['running'], limit: 100 })).tasks.length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} tasks of ${run} ever ran at once`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pid of the process a `running` status event names (`worker` is `host:pid`). */
export function workerPid(event: TaskEvent): number {
  return Number(String(event.data.worker).split(':').pop());
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export async function deleteRedisKeys(pattern: string, url = REDIS_URL): Promise<void> {
  // A private Redis the test already stopped has no keys to delete: give up at once rather than reconnect.
  const client = redis.createClient(url, { retry_strategy: () => undefined });
  client.on('error', () => undefined);
  const keys = await new Promise<string[]>((resolve) => client.keys(pattern, (e, k) => resolve(e ? [] : k)));
  if (keys.length > 0) await new Promise((resolve) => client.del(keys, resolve));
  await new Promise((resolve) => client.quit(resolve));
}

/** Submits `count` tasks over REST, `parallel` requests at a time; returns their ids in submission order. */
export async function submitMany(
  api: RestClient,
  count: number,
  parallel: number,
  request: (i: number) => Parameters<RestClient['submit']>[0],
): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        ids[i] = (await api.submit(request(i))).id;
      }
    }),
  );
  return ids;
}
