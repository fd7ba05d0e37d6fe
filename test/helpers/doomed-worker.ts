import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Cluster, HostProcess } from './cluster.js';
import { POSTGRES_URL, REDIS_URL } from './services.js';

const FIXTURE = fileURLToPath(new URL('../e2e/fixtures/doomed-worker.ts', import.meta.url));

/**
 * A worker process of `cluster` whose one tool (`doom__hang`) never returns: it prints `running <taskId>` when an
 * attempt reaches the tool, so a test can kill it there, as if the task crashed the worker.
 */
export function startDoomedWorker(cluster: Cluster, options: { maxStalls: number; leaseMs?: number }): HostProcess {
  const args = [FIXTURE, POSTGRES_URL, cluster.schema, REDIS_URL, cluster.queue, String(options.maxStalls)];
  if (options.leaseMs !== undefined) args.push(String(options.leaseMs));
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const host = new HostProcess(`doomed worker ${child.pid}`, child);
  cluster.processes.push(host);
  return host;
}
