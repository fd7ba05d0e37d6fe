/**
 * A worker thread that runs sandbox jobs one at a time. The host kills this thread when a job overruns its hard
 * deadline (a guest stuck where QuickJS's interrupt handler cannot reach it) or is cancelled.
 */
import { parentPort } from 'node:worker_threads';
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSWASMModule } from 'quickjs-emscripten';
import { SandboxErrorCodes } from './error-codes.js';
import type { HostToWorker, WorkerToHost } from './sandbox-protocol.js';
import { runJob, type JobResult } from './sandbox-run.js';

const port = parentPort;
if (!port) throw new Error('sandbox-worker.js must run in a worker thread');
const post = (message: WorkerToHost): void => port.postMessage(message);

// Each module is a separate WebAssembly instance: discarding one leaves nothing of it behind.
let mod: Promise<QuickJSWASMModule> = newQuickJSWASMModule(RELEASE_SYNC);
let queue: Promise<void> = Promise.resolve();

async function handle(message: HostToWorker): Promise<void> {
  const { id, job } = message;
  let result: JobResult;
  try {
    result = await runJob(await mod, job, (level, text) => post({ type: 'log', id, level, message: text }));
  } catch (error) {
    result = { outcome: { ok: false, code: SandboxErrorCodes.SANDBOX_CRASHED, message: `the sandbox failed: ${error instanceof Error ? error.message : String(error)}` }, discardModule: true };
  }
  if (result.discardModule) mod = newQuickJSWASMModule(RELEASE_SYNC);
  post({ type: 'done', id, outcome: result.outcome, moduleDiscarded: result.discardModule });
}

await mod;
port.on('message', (message: HostToWorker) => {
  queue = queue.then(() => handle(message));
});
post({ type: 'ready' });
