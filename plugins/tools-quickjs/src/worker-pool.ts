import { Worker } from 'node:worker_threads';
import type { Logger } from '@opspawn/plugin-sdk';
import { SandboxErrorCodes } from './error-codes.js';
import type { HostToWorker, LogLevel, SandboxJob, SandboxOutcome, WorkerToHost } from './sandbox-protocol.js';

const WORKER_SCRIPT = new URL('./sandbox-worker.js', import.meta.url);
/** After the guest's own deadline, how long the worker gets to report before it is killed. */
export const KILL_GRACE_MS = 250;
const MAX_START_FAILURES = 5;

/**
 * When a job's time is up: `killAt`, an epoch time that counts the wait for a free worker too (a tool call: the
 * task's clock runs while it waits); or `limitFromStartMs`, counted from when a worker takes the job, its `deadline`
 * set then (a tool file loaded at start: every file queues at once, and the wait behind the others is not its own).
 */
export type RunClock = { killAt: number; limitFromStartMs?: never } | { limitFromStartMs: number; killAt?: never };

export type RunOptions = RunClock & {
  /** Aborting kills the job's worker (the worker is replaced). */
  signal?: AbortSignal;
  onLog(level: LogLevel, message: string): void;
};

export interface PoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Workers killed (hard deadline, cancellation) or crashed, and replaced. */
  workersReplaced: number;
  /** WASM modules thrown away inside workers after an out-of-memory, interrupt or stack overflow. */
  modulesDiscarded: number;
}

interface Pending {
  id: number;
  job: SandboxJob;
  options: RunOptions;
  resolve(outcome: SandboxOutcome): void;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
  slot?: Slot;
  done?: boolean;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  current?: Pending;
  /** When it last became free (a counter): the next job goes to the slot free the longest. */
  freeSince: number;
}

/**
 * A fixed number of worker threads, each with its own QuickJS module. Jobs queue for a free worker. A job that
 * passes its kill time or is cancelled takes its worker down with it: the thread is terminated and a fresh one
 * takes its place, so no state of a killed guest survives.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private frees = 0;
  private closed = false;
  private startFailures = 0;
  private lastStartError?: string;
  private counters = { workersReplaced: 0, modulesDiscarded: 0 };

  constructor(
    private readonly size: number,
    private readonly stackSizeMb: number,
    private readonly memoryLimitBytes: number,
    private readonly logger: Logger,
  ) {}

  /** Starts the workers and waits until each has its QuickJS module loaded. */
  async start(): Promise<void> {
    const ready = Array.from({ length: this.size }, () => {
      const slot = { ready: false, freeSince: 0 } as Slot;
      this.spawn(slot);
      this.slots.push(slot);
      return new Promise<void>((resolve, reject) => {
        slot.worker.once('message', () => resolve());
        slot.worker.once('error', reject);
        slot.worker.once('exit', (code) => reject(new Error(`sandbox worker exited with code ${code} while starting`)));
      });
    });
    await Promise.all(ready);
  }

  get stats(): PoolStats {
    return {
      workers: this.slots.filter((s) => s.ready).length,
      busy: this.slots.filter((s) => s.current).length,
      queued: this.queue.length,
      ...this.counters,
    };
  }

  /** Why workers cannot start, once they have failed to start several times in a row. */
  get broken(): string | undefined {
    return this.startFailures >= MAX_START_FAILURES ? this.lastStartError : undefined;
  }

  run(job: SandboxJob, options: RunOptions): Promise<SandboxOutcome> {
    return new Promise<SandboxOutcome>((resolve) => {
      if (this.closed)
        return resolve({ ok: false, code: SandboxErrorCodes.CANCELLED, message: 'the tool provider is closed' });
      if (options.signal?.aborted) return resolve(cancelled(job, false));
      const pending: Pending = { id: this.nextId++, job, options, resolve };
      if (options.killAt !== undefined)
        pending.timer = setTimeout(() => this.expire(pending), Math.max(0, options.killAt - Date.now()));
      pending.onAbort = () => this.cancel(pending);
      options.signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.queue.push(pending);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0))
      this.finish(pending, { ok: false, code: SandboxErrorCodes.CANCELLED, message: 'the tool provider is closing' });
    for (const slot of this.slots)
      if (slot.current)
        this.finish(slot.current, {
          ok: false,
          code: SandboxErrorCodes.CANCELLED,
          message: 'the tool provider is closing',
        });
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()));
  }

  private spawn(slot: Slot): void {
    const worker = new Worker(WORKER_SCRIPT, {
      resourceLimits: { stackSizeMb: this.stackSizeMb },
      workerData: { memoryLimitBytes: this.memoryLimitBytes },
    });
    worker.unref();
    slot.worker = worker;
    slot.ready = false;
    slot.current = undefined;
    worker.on('message', (message: WorkerToHost) => this.onMessage(slot, worker, message));
    worker.on('error', (error) => this.onExit(slot, worker, error.message));
    worker.on('exit', (code) => this.onExit(slot, worker, `exited with code ${code}`));
  }

  private onMessage(slot: Slot, worker: Worker, message: WorkerToHost): void {
    if (slot.worker !== worker) return;
    if (message.type === 'ready') {
      slot.ready = true;
      slot.freeSince = ++this.frees;
      this.startFailures = 0;
      this.dispatch();
      return;
    }
    if (message.type === 'module-discarded') {
      this.counters.modulesDiscarded++;
      return;
    }
    const pending = slot.current;
    if (!pending || pending.id !== message.id) return;
    if (message.type === 'log') {
      pending.options.onLog(message.level, message.message);
      return;
    }
    if (message.moduleDiscarded) this.counters.modulesDiscarded++;
    slot.current = undefined;
    slot.freeSince = ++this.frees;
    worker.unref();
    this.finish(pending, message.outcome);
    this.dispatch();
  }

  /** A worker died on its own (crash, failed start). Whatever it ran fails; a new worker takes its place. */
  private onExit(slot: Slot, worker: Worker, why: string): void {
    if (slot.worker !== worker || this.closed) return;
    if (!slot.ready) {
      this.startFailures++;
      this.lastStartError = `sandbox worker failed to start: ${why}`;
      this.logger.error({ reason: why }, this.lastStartError);
      if (this.startFailures >= MAX_START_FAILURES) {
        for (const pending of this.queue.splice(0))
          this.finish(pending, { ok: false, code: SandboxErrorCodes.SANDBOX_CRASHED, message: this.lastStartError });
      }
    } else {
      this.logger.warn({ reason: why }, 'a sandbox worker stopped unexpectedly; replacing it');
    }
    const pending = slot.current;
    if (pending)
      this.finish(pending, {
        ok: false,
        code: SandboxErrorCodes.SANDBOX_CRASHED,
        message: `the sandbox running ${describeJob(pending.job)} crashed: ${why}`,
      });
    this.replace(slot, false);
  }

  private replace(slot: Slot, kill: boolean): void {
    const old = slot.worker;
    if (kill) void old.terminate();
    old.removeAllListeners();
    old.on('error', () => undefined);
    this.counters.workersReplaced++;
    slot.current = undefined;
    if (this.closed || this.startFailures >= MAX_START_FAILURES) {
      slot.ready = false;
      return;
    }
    this.spawn(slot);
  }

  /**
   * Hands queued jobs to free workers, the one free the longest first: a worker that just answered is still freeing
   * its last sandbox and making the next, so another one that is ready starts sooner.
   */
  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      for (const candidate of this.slots)
        if (candidate.ready && !candidate.current && (!slot || candidate.freeSince < slot.freeSince)) slot = candidate;
      if (!slot) return;
      const pending = this.queue.shift()!;
      const limit = pending.options.limitFromStartMs;
      if (limit !== undefined) {
        pending.job = { ...pending.job, deadline: Date.now() + limit };
        pending.timer = setTimeout(() => this.expire(pending), limit + KILL_GRACE_MS);
      }
      pending.slot = slot;
      slot.current = pending;
      slot.worker.ref();
      slot.worker.postMessage({ type: 'job', id: pending.id, job: pending.job } satisfies HostToWorker);
    }
  }

  /** The kill time passed: a queued job never ran; a running one takes its worker down. */
  private expire(pending: Pending): void {
    const outcome: SandboxOutcome = {
      ok: false,
      code: SandboxErrorCodes.TIMEOUT,
      message: pending.slot
        ? `${describeJob(pending.job)} did not finish within its ${pending.job.limits.timeoutMs} ms time limit (or the task's deadline); its sandbox was killed`
        : `${describeJob(pending.job)} waited for a free sandbox past its deadline and did not run`,
    };
    this.stop(pending, outcome);
  }

  private cancel(pending: Pending): void {
    this.stop(pending, cancelled(pending.job, pending.slot !== undefined));
  }

  private stop(pending: Pending, outcome: SandboxOutcome): void {
    const slot = pending.slot;
    if (slot && slot.current === pending) {
      this.finish(pending, outcome);
      this.replace(slot, true);
    } else {
      const index = this.queue.indexOf(pending);
      if (index >= 0) this.queue.splice(index, 1);
      this.finish(pending, outcome);
    }
  }

  private finish(pending: Pending, outcome: SandboxOutcome): void {
    if (pending.done) return;
    pending.done = true;
    clearTimeout(pending.timer);
    if (pending.onAbort) pending.options.signal?.removeEventListener('abort', pending.onAbort);
    pending.resolve(outcome);
  }
}

function describeJob(job: SandboxJob): string {
  return job.kind === 'call' ? `tool '${job.tool}'` : `tool file ${job.file}`;
}

function cancelled(job: SandboxJob, started: boolean): SandboxOutcome {
  return {
    ok: false,
    code: SandboxErrorCodes.CANCELLED,
    message: started
      ? `${describeJob(job)} was cancelled; its sandbox was stopped`
      : `${describeJob(job)} was cancelled before it started; it never ran`,
  };
}
