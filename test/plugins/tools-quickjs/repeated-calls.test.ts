import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QuickJsToolProvider } from '@opspawn/tools-quickjs';
import { callContext, fixtures } from './context.js';

// One worker, so every call lands where the last ones ran: after two calls of a tool, its worker compiles that tool
// ahead of the next call (ADR 0023, round 3).
describe('tools-quickjs: a tool called again and again', () => {
  let provider: QuickJsToolProvider;

  before(async () => {
    provider = new QuickJsToolProvider({ dirs: [join(fixtures, 'repeated')], watch: false, workers: 1 });
    await provider.start();
  });

  after(() => provider.close());

  it('runs the whole file in every call, as if for the first time: module state, globals and load-time logs', async () => {
    for (let i = 0; i < 4; i++) {
      const ctx = callContext();
      expect(await provider.call('counter', {}, ctx), `call ${i + 1}`).to.deep.equal({
        output: { runs: 1, seen: null },
      });
      expect(ctx.logs, `call ${i + 1}`).to.deep.equal([{ level: 'info', message: 'counter loaded' }]);
    }
  });

  it('names the same place in the file when the tool throws, whether or not it was compiled ahead', async () => {
    const messages: string[] = [];
    for (let i = 0; i < 4; i++) {
      const result = await provider.call('thrower', {}, callContext());
      messages.push((result.output as { message: string }).message);
    }
    expect(messages[0]).to.equal("tool 'thrower' threw Error: no answer (at run (thrower.js:6:20))");
    expect(new Set(messages).size).to.equal(1);
  });

  it('runs the new text of a tool file changed after it was compiled ahead', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-quickjs-ahead-'));
    const version = (n: number) =>
      `export default { name: 'versioned', description: 'Says its version.', inputSchema: { type: 'object' }, run() { return ${n}; } };\n`;
    writeFileSync(join(dir, 'versioned.js'), version(1));
    const changing = new QuickJsToolProvider({ dirs: [dir], watch: false, workers: 1 });
    await changing.start();
    try {
      for (let i = 0; i < 3; i++)
        expect(await changing.call('versioned', {}, callContext())).to.deep.equal({ output: 1 });
      writeFileSync(join(dir, 'versioned.js'), version(2));
      await changing.reload();
      for (let i = 0; i < 3; i++)
        expect(await changing.call('versioned', {}, callContext())).to.deep.equal({ output: 2 });
    } finally {
      await changing.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets no other tool import the tool compiled for the next call, nor import anything else', async () => {
    for (let i = 0; i < 3; i++) await provider.call('counter', {}, callContext());
    for (const name of ['counter.js', './counter.js', 'opspawn:call', 'node:fs']) {
      const result = await provider.call('importer', { name }, callContext());
      expect(result.output, name).to.match(/^threw cannot import '.*': sandboxed tools have no modules/);
    }
  });

  it('lets a tool compiled ahead not import itself either', async () => {
    for (let i = 0; i < 3; i++) await provider.call('importer', { name: 'node:fs' }, callContext());
    const result = await provider.call('importer', { name: 'importer.js' }, callContext());
    expect(result.output).to.match(/^threw cannot import 'importer.js'/);
  });

  it('serves calls that reach the worker while it makes its next sandbox, each in a fresh one', async () => {
    // Sent all at once to one worker: each call after the first arrives while the worker is between jobs, making
    // the next sandbox, compiling a tool ahead or freeing the last one.
    const contexts = Array.from({ length: 12 }, () => callContext());
    const results = await Promise.all(
      contexts.map((ctx, i) => provider.call(i % 3 === 2 ? 'thrower' : 'counter', {}, ctx)),
    );
    results.forEach((result, i) => {
      if (i % 3 === 2) expect(result.isError, `call ${i + 1}`).to.equal(true);
      else {
        expect(result, `call ${i + 1}`).to.deep.equal({ output: { runs: 1, seen: null } });
        expect(contexts[i].logs, `call ${i + 1}`).to.deep.equal([{ level: 'info', message: 'counter loaded' }]);
      }
    });
  });
});

describe('tools-quickjs: calls near their memory limit, one after another', () => {
  it('gives every call its whole memory limit and stops one past it, whatever the worker did between calls', async () => {
    const provider = new QuickJsToolProvider({
      dirs: [join(fixtures, 'repeated')],
      watch: false,
      workers: 1,
      memoryLimitBytes: 8 * 1024 * 1024,
    });
    await provider.start();
    try {
      for (let i = 0; i < 6; i++) {
        // All at once to one worker: each call arrives right after the previous answer, while the worker frees that
        // call's sandbox and makes the next.
        const results = await Promise.all([
          provider.call('hoard', { mib: 7 }, callContext()),
          provider.call('hoard', { mib: 7 }, callContext()),
          provider.call('counter', {}, callContext()),
          provider.call('hoard', { mib: 7 }, callContext()),
        ]);
        expect(results, `round ${i + 1}`).to.deep.equal([
          { output: 112 },
          { output: 112 },
          { output: { runs: 1, seen: null } },
          { output: 112 },
        ]);
      }
      expect(provider.stats().modulesDiscarded).to.equal(0);
      // The limit still stops a call served from a sandbox made between calls.
      const over = await provider.call('hoard', { mib: 40 }, callContext());
      expect(over.isError).to.equal(true);
      expect(over.output).to.include({ code: 'OPSPAWN_TOOL_OUT_OF_MEMORY' });
      expect(await provider.call('hoard', { mib: 7 }, callContext())).to.deep.equal({ output: 112 });
    } finally {
      await provider.close();
    }
  });
});
