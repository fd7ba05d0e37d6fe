/**
 * A worker thread that runs sandbox jobs one at a time. The host kills this thread when a job overruns its hard
 * deadline (a guest stuck where QuickJS's interrupt handler cannot reach it) or is cancelled.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SandboxErrorCodes } from './error-codes.js';
import { ModuleCache } from './module-cache.js';
import type { HostToWorker, WorkerToHost } from './sandbox-protocol.js';
import { runJob, type JobResult } from './sandbox-run.js';

const port = parentPort;
if (!port) throw new Error('sandbox-worker.js must run in a worker thread');
const post = (message: WorkerToHost): void => port.postMessage(message);

const modules = new ModuleCache();
let queue: Promise<void> = Promise.resolve();

async function handle(message: HostToWorker): Promise<void> {
  const { id, job } = message;
  let result: JobResult;
  try {
    result = await runJob(await modules.get(job.limits.memoryLimitBytes), job, (level, text) =>
      post({ type: 'log', id, level, message: text }),
    );
  } catch (error) {
    result = {
      outcome: {
        ok: false,
        code: SandboxErrorCodes.SANDBOX_CRASHED,
        message: `the sandbox failed: ${error instanceof Error ? error.message : String(error)}`,
      },
      discardModule: true,
    };
  }
  // After an out-of-memory, an interrupt or a failed dispose the module's state is unknown: never reuse it.
  if (result.discardModule) modules.discard(job.limits.memoryLimitBytes);
  post({ type: 'done', id, outcome: result.outcome, moduleDiscarded: result.discardModule });
}

// Load the common module before saying ready, so the first call does not pay for it.
await modules.get((workerData as { memoryLimitBytes: number }).memoryLimitBytes);
port.on('message', (message: HostToWorker) => {
  queue = queue.then(() => handle(message));
});
post({ type: 'ready' });
