/**
 * A worker thread that runs sandbox jobs one at a time. The host kills this thread when a job overruns its hard
 * deadline (a guest stuck where QuickJS's interrupt handler cannot reach it) or is cancelled.
 *
 * Between jobs it makes the sandboxes the next ones will take (fresh runtimes and contexts with the prelude
 * evaluated; two, so that a call arriving while it is still at work between calls finds one ready), and it frees a
 * job's sandbox only after the answer is posted: a call waits for neither. When its last two calls were of the same
 * tool, those sandboxes also have that tool compiled (not run), for a third call of it.
 *
 * That work is done in steps (free one used sandbox, make one sandbox, compile into one), returning to the event loop
 * between steps: a job that arrives meanwhile runs after the step under way, not after all of them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { QuickJSWASMModule } from 'quickjs-emscripten';
import { SandboxErrorCodes } from './error-codes.js';
import { memoryGrown, ModuleCache } from './module-cache.js';
import type { HostToWorker, SandboxJob, WorkerToHost } from './sandbox-protocol.js';
import {
  CompileAheadFailed,
  compileAhead,
  compiledFor,
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
/** The memory limit most calls run under: the spares are made in its module. */
const commonLimit = (workerData as { memoryLimitBytes: number }).memoryLimitBytes;
/** Sandboxes made for the next calls, oldest first, at most SPARES. */
let spares: Sandbox[] = [];
const SPARES = 2;
/** Spares that compiling a tool ahead into was tried for (it is tried once per spare). */
const aheadTried = new WeakSet<Sandbox>();
/** The last two calls run in the common module's sandboxes, most recent first. */
let recent: [ToolToCompile?, ToolToCompile?] = [];
/** Sandboxes whose call has answered, not yet freed, with the limit of their module. */
let used: Array<{ sandbox: Sandbox; limit: number }> = [];
/** At most this many used sandboxes wait to be freed; past it the oldest is freed right after the answer. */
const MAX_USED = 2;
const jobs: HostToWorker[] = [];
let working = false;

/**
 * A spare of `mod` for `job`, one with its tool compiled ahead if there is one, else a new sandbox; either way nobody
 * else will use it.
 */
function takeSandbox(mod: QuickJSWASMModule, job: SandboxJob): Sandbox {
  const mine = spares.filter((sandbox) => sandbox.module === mod);
  const sandbox = mine.find((candidate) => compiledFor(candidate, job)) ?? mine[0];
  if (!sandbox) return prepareSandbox(mod);
  spares = spares.filter((candidate) => candidate !== sandbox);
  return sandbox;
}

/** The tool to compile in the next spare: the one called twice in a row, if so. */
function toolAhead(): ToolToCompile | undefined {
  const [last, before] = recent;
  return last && before && last.file === before.file && last.source === before.source ? last : undefined;
}

/**
 * Frees a used sandbox. One of a module the cache let go of is just dropped with it (that module may be damaged);
 * one that cannot be freed cleanly takes its module with it.
 */
function free(entry: { sandbox: Sandbox; limit: number }): void {
  const { sandbox, limit } = entry;
  if (!modules.holds(limit, sandbox.module)) return;
  if (!disposeSandbox(sandbox)) {
    modules.discard(limit);
    post({ type: 'module-discarded' });
  }
}

/**
 * Before a job in `mod` runs: the used sandboxes of `mod` are freed first if its memory has grown, so that a call
 * always has its whole memory limit (while the memory has not grown, they fit in its base pages).
 */
function freeBefore(mod: QuickJSWASMModule): void {
  if (!used.some((entry) => entry.sandbox.module === mod) || !memoryGrown(mod)) return;
  const [now, later] = [used.filter((e) => e.sandbox.module === mod), used.filter((e) => e.sandbox.module !== mod)];
  used = later;
  for (const entry of now) free(entry);
}

/**
 * The next piece of work to do between jobs, undefined when there is none: free used sandboxes (first, so that the
 * next sandbox reuses their memory), make a spare, compile the tool ahead into the spares, make a second spare. With
 * two, a call that arrives while the worker is still at work between calls finds one ready.
 */
async function nextStep(): Promise<(() => void) | undefined> {
  const mod = await modules.get(commonLimit);
  // Spares of a module the cache let go of (discarded, or evicted) are dropped with that module.
  spares = spares.filter((sandbox) => sandbox.module === mod);
  const oldest = used[0];
  if (oldest)
    return () => {
      used = used.filter((entry) => entry !== oldest);
      free(oldest);
    };
  const makeSpare = () => {
    spares.push(prepareSandbox(mod));
  };
  if (spares.length === 0) return makeSpare;
  const ahead = toolAhead();
  const plain = ahead && spares.find((sandbox) => !aheadTried.has(sandbox));
  if (ahead && plain)
    return () => {
      aheadTried.add(plain);
      spares = spares.filter((sandbox) => sandbox !== plain);
      try {
        const compiled = compileAhead(plain, ahead);
        aheadTried.add(compiled);
        spares.unshift(compiled);
      } catch (error) {
        // The tool no longer compiles as it did (the sandbox is freed); plain spares are made next, in a new module
        // if that one may be damaged.
        recent = [];
        if (!(error instanceof CompileAheadFailed && error.moduleSound)) {
          modules.discard(commonLimit);
          post({ type: 'module-discarded' });
        }
      }
    };
  return spares.length < SPARES ? makeSpare : undefined;
}

async function handle(message: HostToWorker): Promise<void> {
  const { id, job } = message;
  const limit = job.limits.memoryLimitBytes;
  let result: JobResult;
  let sandbox: Sandbox | undefined;
  try {
    const mod = await modules.get(limit);
    freeBefore(mod);
    sandbox = takeSandbox(mod, job);
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
  // After an out-of-memory, an interrupt or a failed dispose the module's state is unknown: never reuse it (its used
  // sandboxes are dropped with it). Otherwise the sandbox is freed by the first step after this job.
  if (result.discardModule) modules.discard(limit);
  else if (sandbox) used.push({ sandbox, limit });
  while (used.length > MAX_USED) free(used.shift()!);
}

/** Resolves after the event loop has delivered the messages that arrived meanwhile. */
const yieldToMessages = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs jobs as they come and the work between them in steps, one thing at a time. */
async function work(): Promise<void> {
  if (working) return;
  working = true;
  try {
    for (;;) {
      const message = jobs.shift();
      if (message) {
        await handle(message);
        continue;
      }
      const step = await nextStep().catch(() => undefined);
      if (jobs.length > 0) continue;
      if (!step) return;
      try {
        step();
      } catch {
        // A spare that could not be made is made at the next call instead, which then reports what failed.
        return;
      }
      await yieldToMessages();
    }
  } finally {
    working = false;
  }
}

// Load the common module and make the first sandbox before saying ready, so the first call does not pay for them.
(await nextStep())?.();
port.on('message', (message: HostToWorker) => {
  jobs.push(message);
  void work();
});
post({ type: 'ready' });
