import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { defaultWorkers, QuickJsToolProvider, SandboxErrorCodes } from '@opspawn/tools-quickjs';
import { until } from '../../helpers/until.js';
import { callContext, fixtures, type LogLine } from './context.js';

describe('tools-quickjs: the cap on sandboxed calls running at once', function () {
  let provider: QuickJsToolProvider | undefined;

  afterEach(() => provider?.close());

  it('runs one worker per CPU core unless `workers` says otherwise', async () => {
    provider = new QuickJsToolProvider({ dirs: [join(fixtures, 'hostile')], watch: false });
    await provider.start();
    const cores = Math.min(64, availableParallelism());
    expect(defaultWorkers()).to.equal(cores);
    expect(provider.stats().workers).to.equal(cores);
    expect(provider.health().detail).to.include(`${cores}/${cores} sandbox workers`);
  });

  it('queues calls beyond the cap in order, runs them all, and never runs a queued call that was cancelled', async () => {
    provider = new QuickJsToolProvider({
      dirs: [join(fixtures, 'hostile')],
      watch: false,
      workers: 1,
      tools: { waits_forever: { timeoutMs: 60_000 } },
    });
    await provider.start();
    const call = (name: string, args: unknown, ctx = callContext()) => provider!.call(name, args, ctx);

    // The only worker is taken by a call that spins until it is cancelled.
    const blocker = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const blocked = call(
      'waits_forever',
      {},
      callContext({ signal: blocker.signal, onLog: (line: LogLine) => line.message === 'started' && started() }),
    );
    await running;
    const replacedBefore = provider.stats().workersReplaced;

    const finished: number[] = [];
    const echoes = [1, 2, 3].map(async (n) => {
      const result = await call('echo', { n });
      finished.push(n);
      return result;
    });
    const chattyCancel = new AbortController();
    const chattyCtx = callContext({ signal: chattyCancel.signal });
    const chatty = call('chatty', {}, chattyCtx);
    await until('four calls waiting for the worker', async () => (provider!.stats().queued === 4 ? true : undefined));
    expect(provider.stats()).to.include({ workers: 1, busy: 1, queued: 4 });

    chattyCancel.abort();
    const cancelled = await chatty;
    expect(cancelled.isError).to.equal(true);
    expect(cancelled.output).to.deep.include({ code: SandboxErrorCodes.CANCELLED });
    expect((cancelled.output as { message: string }).message).to.match(/'chatty' was cancelled before it started/);
    expect(chattyCtx.logs, 'a cancelled queued call writes nothing: it never ran').to.deep.equal([]);
    expect(provider.stats().queued).to.equal(3);
    // Cancelling a call that had not started stops no worker.
    expect(provider.stats().workersReplaced).to.equal(replacedBefore);

    blocker.abort();
    expect((await blocked).output).to.deep.include({ code: SandboxErrorCodes.CANCELLED });
    expect((await Promise.all(echoes)).map((r) => r.output)).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(finished, 'one worker runs the queue in order').to.deep.equal([1, 2, 3]);
    expect(provider.stats()).to.include({ busy: 0, queued: 0, workersReplaced: replacedBefore + 1 });
  });

  it('still kills a guest stuck in native code, and the next call gets a fresh sandbox', async () => {
    provider = new QuickJsToolProvider({
      dirs: [join(fixtures, 'hostile')],
      watch: false,
      workers: 1,
      // Only the stalling tool gets a short limit: reading the tool files at start queues every file on the one
      // worker with the top-level limit, which a loaded machine passed at 300 ms (a file then went missing).
      tools: { native_stall: { memoryLimitBytes: 32 * 1024 * 1024, timeoutMs: 300 } },
    });
    await provider.start();
    const call = (name: string, args: unknown = {}) => provider!.call(name, args, callContext());
    expect(await call('state_leak', { write: 'left behind' })).to.deep.equal({ output: { seen: null } });
    const stalled = await call('native_stall');
    expect(stalled.output).to.deep.include({ code: SandboxErrorCodes.TIMEOUT });
    expect(provider.stats().workersReplaced).to.equal(1);
    expect(await call('state_leak', {})).to.deep.equal({ output: { seen: null } });
  });

  it('discards the WASM module after an out-of-memory, and the sandbox made in advance with it', async () => {
    provider = new QuickJsToolProvider({
      dirs: [join(fixtures, 'hostile')],
      watch: false,
      workers: 1,
      memoryLimitBytes: 8 * 1024 * 1024,
      timeoutMs: 10_000,
    });
    await provider.start();
    const call = (name: string, args: unknown = {}) => provider!.call(name, args, callContext());
    const bomb = await call('memory_bomb');
    expect(bomb.output).to.deep.include({ code: SandboxErrorCodes.OUT_OF_MEMORY });
    expect(provider.stats().modulesDiscarded).to.equal(1);
    // The next calls run in a new module's sandboxes, with all of their memory.
    for (let n = 0; n < 3; n++) expect(await call('echo', { n })).to.deep.equal({ output: { n } });
    expect(provider.stats()).to.include({ modulesDiscarded: 1, workersReplaced: 0 });
  });
});
