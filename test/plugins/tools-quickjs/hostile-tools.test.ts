import { expect } from 'chai';
import { join } from 'node:path';
import { QuickJsToolProvider, SandboxErrorCodes } from '@opspawn/tools-quickjs';
import { callContext, fixtures } from './context.js';

const MiB = 1024 * 1024;

describe('tools-quickjs: hostile tools', function () {
  let provider: QuickJsToolProvider;

  before(async () => {
    provider = new QuickJsToolProvider({
      dirs: [join(fixtures, 'hostile')],
      watch: false,
      workers: 2,
      timeoutMs: 300,
      memoryLimitBytes: 8 * MiB,
      stackSizeBytes: 256 * 1024,
      maxOutputBytes: 64 * 1024,
      // echo gets a generous limit: on a loaded machine a fresh worker can take longer than 300 ms to start, and
      // these tests are about hostile tools being stopped, not about how fast echo answers. The bombs get one too:
      // they must be stopped by the memory and stack limits, which a loaded machine reaches after 300 ms.
      tools: {
        waits_forever: { timeoutMs: 20_000 },
        native_stall: { memoryLimitBytes: 32 * MiB },
        echo: { timeoutMs: 10_000 },
        memory_bomb: { timeoutMs: 10_000 },
        string_bomb: { timeoutMs: 10_000 },
        deep_recursion: { timeoutMs: 10_000 },
      },
    });
    await provider.start();
  });

  after(() => provider.close());

  const call = (name: string, args: unknown = {}) => provider.call(name, args, callContext());

  /** Every case ends here: the host answers and a fresh call works. */
  async function expectAlive(): Promise<void> {
    expect(await call('echo', { still: 'here' })).to.deep.equal({ output: { still: 'here' } });
  }

  function expectFailure(result: { isError?: boolean; output: unknown }, code: string, message: RegExp): void {
    expect(result.isError, JSON.stringify(result)).to.equal(true);
    const output = result.output as { code: string; message: string };
    expect(output.code).to.equal(code);
    expect(output.message).to.match(message);
  }

  it('stops an infinite loop at the time limit', async () => {
    expectFailure(
      await call('infinite_loop'),
      SandboxErrorCodes.TIMEOUT,
      /'infinite_loop' did not finish within its 300 ms time limit/,
    );
    await expectAlive();
  });

  it('kills the worker of a guest stuck in native code where the interrupt handler never runs, and replaces it', async () => {
    const before = provider.stats().workersReplaced;
    expectFailure(
      await call('native_stall'),
      SandboxErrorCodes.TIMEOUT,
      /'native_stall' did not finish .* its sandbox was killed/,
    );
    expect(provider.stats().workersReplaced).to.equal(before + 1);
    await expectAlive();
  });

  it('stops a memory bomb at the memory limit and discards the WASM module', async () => {
    const before = provider.stats().modulesDiscarded;
    expectFailure(
      await call('memory_bomb'),
      SandboxErrorCodes.OUT_OF_MEMORY,
      /'memory_bomb' ran out of memory \(limit 8388608 bytes\)/,
    );
    expect(provider.stats().modulesDiscarded).to.equal(before + 1);
    await expectAlive();
  });

  it('refuses a single enormous native allocation as out of memory', async () => {
    expectFailure(await call('string_bomb'), SandboxErrorCodes.OUT_OF_MEMORY, /'string_bomb' ran out of memory/);
    await expectAlive();
  });

  it('stops runaway recursion at the stack limit', async () => {
    expectFailure(
      await call('deep_recursion'),
      SandboxErrorCodes.STACK_OVERFLOW,
      /'deep_recursion' exceeded its stack limit \(262144 bytes\)/,
    );
    await expectAlive();
  });

  it('reports a promise that can never settle at once instead of waiting for the deadline', async () => {
    expectFailure(
      await call('never_settles'),
      SandboxErrorCodes.NEVER_SETTLES,
      /'never_settles' returned a promise that can never settle/,
    );
    await expectAlive();
  });

  it('refuses output over maxOutputBytes', async () => {
    expectFailure(
      await call('huge_output'),
      SandboxErrorCodes.RESULT_TOO_LARGE,
      /'huge_output' returned more than 65536 bytes/,
    );
    await expectAlive();
  });

  describe('refuses results JSON cannot carry, saying where the bad value is', () => {
    const cases: Array<[string, RegExp]> = [
      ['function', /output\.callback is a function/],
      ['cycle', /output\.next\.back refers back to an object that contains it \(a cycle\)/],
      ['bigint', /output\.big is a BigInt \(1180591620717411303424n\)/],
      ['undefined', /output\.missing is undefined/],
      ['nothing', /output is undefined/],
      ['map', /output\.index is a Map, not a plain object/],
    ];
    for (const [kind, message] of cases) {
      it(`a ${kind}`, async () => {
        expectFailure(await call('non_json', { kind }), SandboxErrorCodes.OUTPUT_NOT_JSON, message);
        await expectAlive();
      });
    }
  });

  describe('reports thrown non-Errors as tool failures', () => {
    const cases: Array<[string, RegExp]> = [
      ['string', /threw a non-Error value: plain string failure/],
      ['number', /threw a non-Error value: 42/],
      ['object', /threw a non-Error value: \{"reason":"custom object"\}/],
      ['null', /threw a non-Error value: null/],
      ['undefined', /threw a non-Error value: undefined/],
    ];
    for (const [kind, message] of cases) {
      it(`throw ${kind}`, async () => {
        expectFailure(await call('throws_non_error', { kind }), SandboxErrorCodes.FAILED, message);
        await expectAlive();
      });
    }
  });

  it('offers no way to the host: no process, require, timers, host modules or bridge handles', async () => {
    const result = await call('escape_attempts');
    expect(result.isError).to.not.equal(true);
    const found = result.output as Record<string, unknown>;
    for (const name of ['process', 'require', 'setTimeout', 'XMLHttpRequest', 'fetch', 'std', 'os'])
      expect(found[name], name).to.equal('threw ReferenceError');
    expect(found['globalThis.process']).to.equal('undefined');
    expect(found['Function("return this")().process']).to.equal('undefined');
    expect(found['constructor.constructor("return process")()']).to.equal('threw ReferenceError');
    expect(found.__opspawnHost).to.equal('undefined');
    expect(found['import("node:fs")']).to.match(/^threw cannot import 'node:fs'/);
    expect(found['import("./echo.js")']).to.match(/^threw cannot import/);
    expect(found.globals).to.not.include.members(['process', 'require', 'fetch', '__opspawnHost']);
    await expectAlive();
  });

  it('keeps prototype pollution inside the sandbox: the host Object.prototype is untouched', async () => {
    const result = await call('prototype_pollution');
    expect(result.isError).to.not.equal(true);
    const plain: Record<string, unknown> = {};
    expect(plain.polluted).to.equal(undefined);
    expect(plain.isAdmin).to.equal(undefined);
    expect(([] as unknown as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.getPrototypeOf((result.output as { payload: object }).payload)).to.equal(Object.prototype);
    expect(JSON.parse('{}')).to.deep.equal({});
    // the next call's sandbox is clean too
    expect(await call('echo', {})).to.deep.equal({ output: {} });
    const next = await call('escape_attempts');
    expect((next.output as { globals: string[] }).globals).to.not.include('polluted');
  });

  it('carries any text through unchanged: accents, emoji, CJK, line separators and a lone surrogate', async () => {
    const input = {
      text: 'héllo wörld 🌍 日本語 \u2028 \u2029 tab\t quote" back\\',
      lone: '\ud800 and \udfff',
      empty: '',
    };
    expect(await call('echo', input)).to.deep.equal({ output: input });
  });

  it('gives every call a fresh runtime: globals written by one call are gone in the next', async () => {
    expect(await call('state_leak', { write: 'secret from call 1' })).to.deep.equal({ output: { seen: null } });
    expect(await call('state_leak', {})).to.deep.equal({ output: { seen: null } });
    expect(await call('state_leak', {})).to.deep.equal({ output: { seen: null } });
  });

  it('turns console output into task log lines', async () => {
    const ctx = callContext();
    expect(await provider.call('chatty', {}, ctx)).to.deep.equal({ output: 'done' });
    expect(ctx.logs).to.deep.equal([
      { level: 'info', message: 'hello {"from":"the sandbox"}' },
      { level: 'info', message: 'info line' },
      { level: 'warn', message: 'careful' },
      { level: 'error', message: 'TypeError: bad thing' },
      { level: 'debug', message: 'details 1 2 3' },
    ]);
  });

  it('stops a running call when its signal is aborted, and the next call works', async () => {
    const controller = new AbortController();
    const ctx = callContext({
      signal: controller.signal,
      onLog: (line) => line.message === 'started' && controller.abort(),
    });
    expectFailure(
      await provider.call('waits_forever', {}, ctx),
      SandboxErrorCodes.CANCELLED,
      /'waits_forever' was cancelled/,
    );
    await expectAlive();
  });

  it('does not start a call whose signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    expectFailure(
      await provider.call('echo', {}, callContext({ signal: controller.signal })),
      SandboxErrorCodes.CANCELLED,
      /cancelled/,
    );
  });

  it('honours a task deadline sooner than the tool limit', async () => {
    expectFailure(
      await provider.call('waits_forever', {}, callContext({ deadline: Date.now() + 100 })),
      SandboxErrorCodes.TIMEOUT,
      /'waits_forever' did not finish/,
    );
    await expectAlive();
  });

  it('runs calls in parallel on its workers while a hostile call is being stopped', async () => {
    const [stuck, ...others] = await Promise.all([
      call('infinite_loop'),
      call('echo', { n: 1 }),
      call('echo', { n: 2 }),
      call('echo', { n: 3 }),
    ]);
    expect((stuck.output as { code: string }).code).to.equal(SandboxErrorCodes.TIMEOUT);
    expect(others.map((r) => r.output)).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('refuses arguments that are not JSON before running anything', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const error = await call('echo', cyclic).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.include({ name: 'OpspawnError', code: 'OPSPAWN_TOOL_INVALID_ARGUMENTS' });
  });

  it('refuses a tool name it does not have, naming the ones it has', async () => {
    const error = await call('no_such_tool').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.include({ name: 'OpspawnError', code: 'OPSPAWN_TOOL_NOT_FOUND' });
    expect((error as { hint: string }).hint).to.include('echo');
  });
});
