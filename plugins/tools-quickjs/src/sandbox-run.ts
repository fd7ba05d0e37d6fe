import { basename } from 'node:path';
import type {
  QuickJSContext,
  QuickJSDeferredPromise,
  QuickJSHandle,
  QuickJSRuntime,
  QuickJSWASMModule,
} from 'quickjs-emscripten';
import { FetchRefused, performFetch, type GuestRequest } from './capabilities/fetch-bridge.js';
import { SandboxErrorCodes } from './error-codes.js';
import { GUEST_DESCRIBE, GUEST_FETCH, GUEST_HELPERS, GUEST_PRELUDE } from './guest-prelude.js';
import type { FetchGrant } from './options.js';
import type { LogLevel, SandboxJob, SandboxOutcome } from './sandbox-protocol.js';

export interface JobResult {
  outcome: SandboxOutcome;
  /** The WASM module may be damaged (out of memory, interrupt, stack overflow, failed dispose): discard it. */
  discardModule: boolean;
}

const MAX_LOG_LINES = 200;
const MAX_LOG_CHARS = 8192;
const LOG_LEVELS = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

interface GuestFailure {
  kind: string;
  message: string;
}

/** Host-side work the guest waits on (a fetch); the job ends when none is left and the guest promise is pending. */
class HostOperations {
  private readonly pending = new Set<QuickJSDeferredPromise>();
  private wake?: () => void;
  /** Made on first use: most calls make no request, and aborting one costs an Error with its stack. */
  private controller?: AbortController;

  /** Aborts the requests still in flight when the job ends. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get size(): number {
    return this.pending.size;
  }

  track(deferred: QuickJSDeferredPromise, work: Promise<void>): void {
    this.pending.add(deferred);
    void work.finally(() => {
      this.pending.delete(deferred);
      if (deferred.alive) deferred.dispose();
      this.wake?.();
    });
  }

  /** Resolves when any operation settles, or at `deadline`, whichever comes first; true if the deadline came. */
  next(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(false);
      };
    });
  }

  /** Drops what is still in flight: the guest will never see it settle. */
  cancel(): void {
    this.controller?.abort(new Error('the tool call ended'));
    for (const deferred of this.pending) if (deferred.alive) deferred.dispose();
    this.pending.clear();
  }
}

/**
 * A fresh QuickJS runtime and context with the prelude evaluated and no tool code run yet. The worker makes the next
 * one while it waits for a call, so a call pays only for its tool; each sandbox serves exactly one call.
 */
export interface Sandbox {
  readonly module: QuickJSWASMModule;
  readonly runtime: QuickJSRuntime;
  readonly ctx: QuickJSContext;
  /** The prelude's API: `invoke`, `toJson`, `failure`, `show`. */
  readonly api: QuickJSHandle;
  /** Where the guest's console lines go: set by the call that takes the sandbox. */
  log: (level: LogLevel, message: string) => void;
  /** The tool compiled (not run) in this sandbox ahead of its call, if any: see `compileAhead`. */
  readonly compiled?: ToolToCompile;
}

/** A tool to compile in a sandbox ahead of its call: the call reuses the compiled module when it is the same. */
export interface ToolToCompile {
  file: string;
  source: string;
  memoryLimitBytes: number;
  stackSizeBytes: number;
}

/** The module through which a call runs its tool compiled ahead: the only module allowed to import anything. */
const CALL_MODULE = 'opspawn:call';

/**
 * What every import but the call module's resolves to: no module is named so (tool modules are named by the base name
 * of their file, which has no '/'), so the lookup misses and the loader refuses it by the name the tool asked for.
 */
const REFUSED = '/opspawn-refused/';

/** A new runtime and context of `mod` with the prelude evaluated; limits and interrupts are set by the call. */
export function prepareSandbox(mod: QuickJSWASMModule): Sandbox {
  const runtime = mod.newRuntime();
  runtime.setModuleLoader(
    (name) => ({
      error: new Error(
        `cannot import '${name.startsWith(REFUSED) ? name.slice(REFUSED.length) : name}': sandboxed tools have no modules; bundle what you need into the tool file`,
      ),
    }),
    (base, requested) => (base === CALL_MODULE ? requested : REFUSED + requested),
  );
  const ctx = runtime.newContext();
  const sink: Pick<Sandbox, 'log'> = { log: () => undefined };
  installHostBridge(ctx, (level, message) => sink.log(level, message));
  const prelude = ctx.evalCode(GUEST_PRELUDE, 'opspawn:prelude');
  if (prelude.error) {
    const message = ctx.dump(prelude.error);
    prelude.error.dispose();
    ctx.dispose();
    runtime.dispose();
    throw new Error(`the sandbox prelude failed: ${JSON.stringify(message)}`);
  }
  return Object.assign(sink, { module: mod, runtime, ctx, api: prelude.value });
}

/**
 * Compiles `ahead`'s file as a module in `sandbox` (made by prepareSandbox, not yet used), and does not evaluate it:
 * none of its code runs before its call, which then evaluates it through a one-line module that imports it
 * (compiling is most of a small tool's time). No other module can import it (or anything), so a call of another
 * tool cannot reach it. Returns the sandbox with `compiled` set. Throws (and frees the sandbox) when the tool does
 * not compile; the error says whether the WASM module is still sound.
 */
export function compileAhead(sandbox: Sandbox, ahead: ToolToCompile): Sandbox {
  const { runtime, ctx } = sandbox;
  // The call's own limits, so the tool compiles here exactly as it would in its call.
  runtime.setMemoryLimit(ahead.memoryLimitBytes);
  runtime.setMaxStackSize(ahead.stackSizeBytes);
  const compiled = ctx.evalCode(ahead.source, basename(ahead.file), { type: 'module', compileOnly: true });
  if (compiled.error) {
    const failure = readFailure(ctx, compiled.error);
    compiled.error.dispose();
    const sound = disposeSandbox(sandbox) && failure.kind !== 'oom' && failure.kind !== 'stack';
    throw new CompileAheadFailed(failure.message, sound);
  }
  compiled.value.dispose();
  return Object.assign(sandbox, { compiled: ahead });
}

/** Compiling a tool ahead of its call failed; `moduleSound` is false when its WASM module must be discarded. */
export class CompileAheadFailed extends Error {
  constructor(
    message: string,
    readonly moduleSound: boolean,
  ) {
    super(`compiling the tool ahead of its call failed: ${message}`);
  }
}

/** Whether `sandbox` holds `job`'s tool compiled under the same limits. */
export function compiledFor(sandbox: Sandbox, job: SandboxJob): boolean {
  const compiled = sandbox.compiled;
  return (
    compiled !== undefined &&
    job.kind === 'call' &&
    compiled.file === job.file &&
    compiled.memoryLimitBytes === job.limits.memoryLimitBytes &&
    compiled.stackSizeBytes === job.limits.stackSizeBytes &&
    compiled.source === job.source
  );
}

/**
 * Frees the sandbox after its call. False when it could not be freed cleanly: the module is then in an unknown state
 * and must be discarded.
 */
export function disposeSandbox(sandbox: Sandbox): boolean {
  try {
    if (sandbox.api.alive) sandbox.api.dispose();
    sandbox.ctx.dispose();
    sandbox.runtime.dispose();
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one job in `sandbox` (fresh, made by prepareSandbox): limits set, `fetch` installed when granted, the tool file
 * evaluated as an ES module, then `describe` or `invoke` driven until its promise settles. The caller disposes the
 * sandbox, unless the result says to discard the whole module.
 */
export async function runJob(
  sandbox: Sandbox,
  job: SandboxJob,
  log: (level: LogLevel, message: string) => void,
): Promise<JobResult> {
  const { runtime, ctx, api } = sandbox;
  sandbox.log = log;
  // Bounds single allocations; the module's fixed-size memory bounds the total (see ModuleCache).
  runtime.setMemoryLimit(job.limits.memoryLimitBytes);
  runtime.setMaxStackSize(job.limits.stackSizeBytes);
  let interrupted = false;
  runtime.setInterruptHandler(() => {
    if (Date.now() < job.deadline) return false;
    interrupted = true;
    return true;
  });
  const ops = new HostOperations();
  const handles: QuickJSHandle[] = [];
  const keep = (h: QuickJSHandle): QuickJSHandle => {
    handles.push(h);
    return h;
  };
  const label = job.kind === 'call' ? `tool '${job.tool}'` : `tool file ${basename(job.file)}`;
  let discardModule = false;

  const fail = (code: string, message: string): SandboxOutcome => ({ ok: false, code, message });
  const timedOut = (): SandboxOutcome =>
    fail(
      SandboxErrorCodes.TIMEOUT,
      `${label} did not finish within its ${job.limits.timeoutMs} ms time limit (or the task's deadline) and was stopped`,
    );
  const fromFailure = (f: GuestFailure, stage: 'load' | 'run'): SandboxOutcome => {
    if (interrupted || f.kind === 'interrupted') {
      discardModule = true;
      return timedOut();
    }
    switch (f.kind) {
      case 'oom':
        discardModule = true;
        return fail(
          SandboxErrorCodes.OUT_OF_MEMORY,
          `${label} ran out of memory (limit ${job.limits.memoryLimitBytes} bytes) and was stopped`,
        );
      case 'stack':
        discardModule = true;
        return fail(
          SandboxErrorCodes.STACK_OVERFLOW,
          `${label} exceeded its stack limit (${job.limits.stackSizeBytes} bytes): too deep a recursion`,
        );
      case 'not-json':
        return fail(SandboxErrorCodes.OUTPUT_NOT_JSON, `${label} returned something that is not JSON: ${f.message}`);
      case 'too-large':
        return fail(
          SandboxErrorCodes.RESULT_TOO_LARGE,
          `${label} returned more than ${job.limits.maxOutputBytes} bytes of output`,
        );
      case 'invalid':
        return fail(SandboxErrorCodes.LOAD_FAILED, `${label} is not a valid tool: ${f.message}`);
      default:
        return stage === 'load'
          ? fail(SandboxErrorCodes.LOAD_FAILED, `${label} failed to load: ${f.message}`)
          : fail(SandboxErrorCodes.FAILED, `${label} threw ${f.message}`);
    }
  };

  /** Evaluates one of our snippets (a function expression) and calls it with `args`; its result is kept. */
  const callSnippet = (source: string, name: string, ...args: QuickJSHandle[]): QuickJSHandle | GuestFailure => {
    const fn = ctx.evalCode(source, name);
    if (fn.error) {
      const f = readFailure(ctx, fn.error);
      fn.error.dispose();
      return f;
    }
    const result = ctx.callFunction(fn.value, ctx.undefined, ...args);
    fn.value.dispose();
    if (result.error) {
      const f = readFailure(ctx, result.error);
      result.error.dispose();
      return f;
    }
    return keep(result.value);
  };

  const drive = async (): Promise<SandboxOutcome> => {
    const grant = job.kind === 'call' ? job.grants.fetch : undefined;
    if (grant) {
      const installed = callSnippet(GUEST_FETCH, 'opspawn:fetch', keep(newFetchBridge(ctx, grant, ops)));
      if (!isHandle(installed)) {
        discardModule = true;
        return fromFailure(installed, 'load');
      }
    }
    const loaded = compiledFor(sandbox, job)
      ? ctx.evalCode(`export { default } from ${JSON.stringify(basename(job.file))};`, CALL_MODULE, { type: 'module' })
      : ctx.evalCode(job.source, basename(job.file), { type: 'module' });
    if (loaded.error) {
      const f = readFailure(ctx, loaded.error);
      loaded.error.dispose();
      return fromFailure(f, 'load');
    }
    const namespace = keep(loaded.value);
    const entry =
      job.kind === 'call' ? keep(ctx.getProp(api, 'invoke')) : callSnippet(GUEST_DESCRIBE, 'opspawn:describe', api);
    if (!isHandle(entry)) {
      discardModule = true;
      return fromFailure(entry, 'load');
    }
    const args =
      job.kind === 'call'
        ? [namespace, keep(ctx.newString(job.inputJson)), keep(ctx.newNumber(job.limits.maxOutputBytes))]
        : [namespace];
    const called = ctx.callFunction(entry, ctx.undefined, ...args);
    if (called.error) {
      const f = readFailure(ctx, called.error);
      called.error.dispose();
      return fromFailure(f, 'run');
    }
    const promise = keep(called.value);

    for (;;) {
      const jobs = runtime.executePendingJobs();
      if (jobs.error) {
        const f = readFailure(ctx, jobs.error);
        jobs.error.dispose();
        return fromFailure(f, 'run');
      }
      if (interrupted) {
        discardModule = true;
        return timedOut();
      }
      const state = ctx.getPromiseState(promise);
      if (state.type === 'fulfilled') {
        const value = state.value;
        try {
          return readOutput(ctx, value, job, label);
        } finally {
          if (!state.notAPromise) value.dispose();
        }
      }
      if (state.type === 'rejected') {
        const f = readFailure(ctx, state.error);
        state.error.dispose();
        return fromFailure(f, 'run');
      }
      if (ops.size === 0) {
        return fail(
          SandboxErrorCodes.NEVER_SETTLES,
          `${label} returned a promise that can never settle: nothing it waits on can happen in the sandbox (there are no timers or events)`,
        );
      }
      if (await ops.next(job.deadline)) return timedOut();
    }
  };

  let outcome: SandboxOutcome;
  try {
    outcome = await drive();
  } catch (error) {
    // The host side of QuickJS threw (a WASM trap, a host-stack overflow, a failed allocation): the module is suspect.
    discardModule = true;
    const message = error instanceof Error ? error.message : String(error);
    if (interrupted) outcome = timedOut();
    else if (/stack/i.test(message))
      outcome = fail(SandboxErrorCodes.STACK_OVERFLOW, `${label} exceeded the sandbox's stack: too deep a recursion`);
    else if (/memory/i.test(message))
      outcome = fail(
        SandboxErrorCodes.OUT_OF_MEMORY,
        `${label} ran out of memory (limit ${job.limits.memoryLimitBytes} bytes) and was stopped`,
      );
    else outcome = fail(SandboxErrorCodes.SANDBOX_CRASHED, `${label} crashed the sandbox: ${message}`);
  }
  ops.cancel();
  if (!discardModule) {
    try {
      for (const h of handles) if (h.alive) h.dispose();
    } catch {
      // Handles that cannot be freed cleanly leave the module in an unknown state.
      discardModule = true;
    }
  }
  return { outcome, discardModule };
}

/**
 * Puts the bridge the prelude takes off `globalThis`: `log(level, message)`, at most MAX_LOG_LINES lines, and
 * `helpers()`, the source of the guest's failure-path helpers.
 */
function installHostBridge(ctx: QuickJSContext, log: (level: LogLevel, message: string) => void): void {
  const host = ctx.newObject();
  let lines = 0;
  const logFn = ctx.newFunction('log', (levelHandle, messageHandle) => {
    lines++;
    if (lines > MAX_LOG_LINES) return;
    const raw = ctx.typeof(levelHandle) === 'string' ? ctx.getString(levelHandle) : 'info';
    const level: LogLevel = LOG_LEVELS.has(raw as LogLevel) ? (raw as LogLevel) : 'info';
    let message = ctx.typeof(messageHandle) === 'string' ? ctx.getString(messageHandle) : '';
    if (message.length > MAX_LOG_CHARS)
      message = `${message.slice(0, MAX_LOG_CHARS)}… (${message.length - MAX_LOG_CHARS} more characters dropped)`;
    if (lines === MAX_LOG_LINES)
      message = `${message}\n(console output limit of ${MAX_LOG_LINES} lines reached; further lines are dropped)`;
    log(level, message);
  });
  ctx.setProp(host, 'log', logFn);
  logFn.dispose();
  const helpersFn = ctx.newFunction('helpers', () => ctx.newString(GUEST_HELPERS));
  ctx.setProp(host, 'helpers', helpersFn);
  helpersFn.dispose();
  ctx.setProp(ctx.global, '__opspawnHost', host);
  host.dispose();
}

/** The host side of the guest's `fetch`: one request per call of it, at most `grant.maxRequests` per tool call. */
function newFetchBridge(ctx: QuickJSContext, grant: FetchGrant, ops: HostOperations): QuickJSHandle {
  let requests = 0;
  return ctx.newFunction('fetch', (requestHandle) => {
    const deferred = ctx.newPromise();
    const reject = (message: string, name = 'FetchError'): void => {
      if (!deferred.alive) return;
      const error = ctx.newError({ name, message });
      deferred.reject(error);
      error.dispose();
    };
    let request: GuestRequest | undefined;
    try {
      request = JSON.parse(ctx.getString(requestHandle)) as GuestRequest;
    } catch {
      reject('fetch: malformed request');
    }
    requests++;
    const work = !request
      ? Promise.resolve()
      : requests > grant.maxRequests
        ? Promise.resolve().then(() =>
            reject(
              `fetch refused: more than ${grant.maxRequests} requests in one call (capabilities.fetch.maxRequests)`,
            ),
          )
        : performFetch(request, grant, ops.signal).then(
            (response) => {
              if (!deferred.alive) return;
              const text = ctx.newString(JSON.stringify(response));
              deferred.resolve(text);
              text.dispose();
            },
            (error: unknown) =>
              reject(
                error instanceof Error ? error.message : String(error),
                error instanceof FetchRefused ? 'FetchRefused' : 'FetchError',
              ),
          );
    ops.track(deferred, work);
    return deferred.handle;
  });
}

function isHandle(value: QuickJSHandle | GuestFailure): value is QuickJSHandle {
  return 'alive' in value;
}

/** The guest's reason for failing: a `{ kind, message }` from the prelude, or a raw exception classified here. */
function readFailure(ctx: QuickJSContext, handle: QuickJSHandle): GuestFailure {
  try {
    const type = ctx.typeof(handle);
    if (type === 'object') {
      const kind = stringProp(ctx, handle, 'kind');
      const message = stringProp(ctx, handle, 'message') ?? '';
      if (kind) return { kind, message };
      const name = stringProp(ctx, handle, 'name') ?? 'Error';
      if (name === 'InternalError' && message === 'out of memory') return { kind: 'oom', message };
      if (name === 'InternalError' && message === 'stack overflow') return { kind: 'stack', message };
      if (name === 'InternalError' && message === 'interrupted') return { kind: 'interrupted', message };
      return { kind: 'threw', message: `${name}: ${message}` };
    }
    if (type === 'string') return { kind: 'threw', message: ctx.getString(handle) };
    // QuickJS throws null when it cannot even allocate the exception.
    return { kind: 'oom', message: `a ${type} exception` };
  } catch {
    return { kind: 'oom', message: 'the failure could not be read' };
  }
}

function stringProp(ctx: QuickJSContext, handle: QuickJSHandle, key: string): string | undefined {
  const prop = ctx.getProp(handle, key);
  try {
    return ctx.typeof(prop) === 'string' ? ctx.getString(prop) : undefined;
  } finally {
    prop.dispose();
  }
}

/** The guest's JSON text, checked again on this side: a string, within the size limit, parseable. */
function readOutput(ctx: QuickJSContext, value: QuickJSHandle, job: SandboxJob, label: string): SandboxOutcome {
  if (ctx.typeof(value) !== 'string')
    return { ok: false, code: SandboxErrorCodes.OUTPUT_NOT_JSON, message: `${label} produced no JSON text` };
  const max = job.kind === 'call' ? job.limits.maxOutputBytes : 1024 * 1024;
  const lengthHandle = ctx.getProp(value, 'length');
  const length = ctx.getNumber(lengthHandle);
  lengthHandle.dispose();
  if (length > max)
    return {
      ok: false,
      code: SandboxErrorCodes.RESULT_TOO_LARGE,
      message: `${label} returned more than ${max} bytes of output`,
    };
  const json = ctx.getString(value);
  if (Buffer.byteLength(json) > max)
    return {
      ok: false,
      code: SandboxErrorCodes.RESULT_TOO_LARGE,
      message: `${label} returned more than ${max} bytes of output`,
    };
  try {
    JSON.parse(json);
  } catch {
    return { ok: false, code: SandboxErrorCodes.OUTPUT_NOT_JSON, message: `${label} produced text that is not JSON` };
  }
  return { ok: true, json };
}
