/**
 * A worker thread that runs sandbox jobs one at a time. The host kills this thread when a job overruns its hard
 * deadline (a guest stuck where QuickJS's interrupt handler cannot reach it) or is cancelled.
 *
 * Between jobs it makes the sandbox the next one will take (a fresh runtime and context with the prelude evaluated),
 * and it frees a job's sandbox only after the answer is posted: a call waits for neither. When its last two calls
 * were of the same tool, the next sandbox also has that tool compiled (not run), for a third call of it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { QuickJSWASMModule } from 'quickjs-emscripten';
import { SandboxErrorCodes } from './error-codes.js';
import { ModuleCache } from './module-cache.js';
import type { HostToWorker, WorkerToHost } from './sandbox-protocol.js';
import {
  CompileAheadFailed,
  disposeSandbox,
  prepareSandbox,
  runJob,
  type JobResult,
  type Sandbox,
  type ToolToCompile,
} from './sandbox-run.js';

const port = parentPort;
if (!port) throw new Error('sandbox-worker.js must run in a worker thread');
const post = (message: WorkerToHost): void => port.postMessage(message);

const modules = new ModuleCache();
/** The memory limit most calls run under: the spare sandbox is made in its module. */
const commonLimit = (workerData as { memoryLimitBytes: number }).memoryLimitBytes;
let spare: Sandbox | undefined;
let queue: Promise<void> = Promise.resolve();
/** The last two calls run in the common module's sandboxes, most recent first. */
let recent: [ToolToCompile?, ToolToCompile?] = [];

/** The spare sandbox when it belongs to `mod`, else a new one; either way nobody else will use it. */
function takeSandbox(mod: QuickJSWASMModule): Sandbox {
  const sandbox = spare?.module === mod ? spare : prepareSandbox(mod);
  if (sandbox === spare) spare = undefined;
  return sandbox;
}

/** The tool to compile in the next spare: the one called twice in a row, if so. */
function toolAhead(): ToolToCompile | undefined {
  const [last, before] = recent;
  return last && before && last.file === before.file && last.source === before.source ? last : undefined;
}

async function prepareSpare(): Promise<void> {
  const mod = await modules.get(commonLimit);
  // A spare of a module the cache let go of (discarded, or evicted) is dropped with that module.
  if (spare && spare.module !== mod) spare = undefined;
  if (spare) return;
  const ahead = toolAhead();
  try {
    spare = prepareSandbox(mod, ahead);
  } catch (error) {
    if (!ahead) throw error;
    // The tool it was compiled for no longer compiles as it did; make a plain spare instead, in a new module
    // if that one may be damaged.
    recent = [];
    if (!(error instanceof CompileAheadFailed && error.moduleSound)) {
      modules.discard(commonLimit);
      post({ type: 'module-discarded' });
    }
    spare = prepareSandbox(await modules.get(commonLimit));
  }
}

async function handle(message: HostToWorker): Promise<void> {
  const { id, job } = message;
  const limit = job.limits.memoryLimitBytes;
  let result: JobResult;
  let sandbox: Sandbox | undefined;
  try {
    sandbox = takeSandbox(await modules.get(limit));
    if (job.kind === 'call' && limit === commonLimit)
      recent = [
        {
          file: job.file,
          source: job.source,
          memoryLimitBytes: limit,
          stackSizeBytes: job.limits.stackSizeBytes,
        },
        recent[0],
      ];
    result = await runJob(sandbox, job, (level, text) => post({ type: 'log', id, level, message: text }));
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
  post({ type: 'done', id, outcome: result.outcome, moduleDiscarded: result.discardModule });
  // After an out-of-memory, an interrupt or a failed dispose the module's state is unknown: never reuse it.
  if (result.discardModule) {
    modules.discard(limit);
  } else if (sandbox && !disposeSandbox(sandbox)) {
    modules.discard(limit);
    post({ type: 'module-discarded' });
  }
  await prepareSpare().catch(() => undefined);
}

// Load the common module and make the first sandbox before saying ready, so the first call does not pay for them.
await prepareSpare();
port.on('message', (message: HostToWorker) => {
  queue = queue.then(() => handle(message));
});
post({ type: 'ready' });
