import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOpspawnPlugin } from '@opspawn/plugin-sdk';
import plugin, { DEFAULT_OPTIONS, QuickJsToolProvider, SandboxErrorCodes } from '@opspawn/tools-quickjs';
import { callContext, fixtures, recordingLogger } from './context.js';

describe('tools-quickjs: the sample tools in config/tools', () => {
  let provider: QuickJsToolProvider;
  before(async () => {
    // The defaults: ./config/tools from the working directory, as the default deployment uses it.
    provider = new QuickJsToolProvider({ watch: false });
    await provider.start();
  });
  after(() => provider.close());
  const call = (name: string, args: unknown) => provider.call(name, args, callContext());

  it('offers calculate, json_pick and text_stats, and holds back http_get until fetch is granted', async () => {
    expect((await provider.list()).map((t) => t.name)).to.deep.equal(['calculate', 'json_pick', 'text_stats']);
    expect(provider.disabledTools()).to.deep.include({
      name: 'http_get',
      file: join(process.cwd(), 'config/tools/http_get.js'),
      missing: ['fetch'],
    });
    expect(provider.health()).to.deep.include({ state: 'ok' });
  });

  it('calculate evaluates an expression with precedence, powers and functions', async () => {
    expect(await call('calculate', { expression: '2 * (3 + 4) ^ 2 / sqrt(16)' })).to.deep.equal({
      output: { value: 24.5 },
    });
    const bad = await call('calculate', { expression: '2 +' });
    expect(bad).to.deep.include({ isError: true });
    expect((bad.output as { message: string }).message).to.include('"2 +" ends too early');
  });

  it('text_stats counts words, sentences and lines and lists frequent words', async () => {
    const { output } = await call('text_stats', { text: 'The cat sat. The cat ran!\nDogs bark.', top: 2 });
    expect(output).to.deep.include({
      words: 8,
      sentences: 3,
      lines: 2,
      topWords: [
        { word: 'cat', count: 2 },
        { word: 'bark', count: 1 },
      ],
    });
  });

  it('json_pick reads paths, wildcards and reports missing ones', async () => {
    const data = { user: { name: 'Ada' }, items: [{ id: 1 }, { id: 2 }] };
    expect(await call('json_pick', { value: data, path: 'items[1].id' })).to.deep.equal({
      output: { found: true, value: 2 },
    });
    expect(await call('json_pick', { value: data, paths: ['user.name', 'items[*].id', 'user.email'] })).to.deep.equal({
      output: {
        results: [
          { path: 'user.name', found: true, value: 'Ada' },
          { path: 'items[*].id', found: true, value: [1, 2] },
          { path: 'user.email', found: false, value: null },
        ],
      },
    });
  });
});

describe('tools-quickjs: loading tool files', () => {
  it('reports each broken file by name and why, and still loads the good one', async () => {
    const logger = recordingLogger();
    const dir = join(fixtures, 'broken');
    // A limit that a busy machine does not reach for the files that load, which the spinning one does.
    const provider = new QuickJsToolProvider({ dirs: [dir], watch: false, timeoutMs: 1000 }, logger);
    await provider.start();
    try {
      expect((await provider.list()).map((t) => t.name)).to.deep.equal(['good']);
      expect(await provider.call('good', { n: 21 }, callContext())).to.deep.equal({ output: { doubled: 42 } });
      const problems = Object.fromEntries(provider.problems().map((p) => [p.file.replace(`${dir}/`, ''), p.message]));
      expect(Object.keys(problems).sort()).to.deep.equal([
        'bad_metadata.js',
        'good_again.js',
        'imports_host_module.js',
        'no_default.js',
        'spins_at_load.js',
        'syntax_error.js',
        'throws_at_load.js',
        'unknown_capability.js',
      ]);
      expect(problems['syntax_error.js']).to.match(/failed to load: SyntaxError/);
      expect(problems['no_default.js']).to.match(/no default export object/);
      expect(problems['bad_metadata.js']).to.match(
        /name must be 1-64 letters.*description must be a non-empty string.*inputSchema.type must be "object".*run must be a function/,
      );
      expect(problems['throws_at_load.js']).to.match(/failed to load: Error: cannot initialise/);
      expect(problems['imports_host_module.js']).to.match(/cannot import 'node:fs'/);
      expect(problems['spins_at_load.js']).to.match(/did not finish within its 1000 ms time limit/);
      expect(problems['good_again.js']).to.equal(`tool name 'good' is already defined by ${join(dir, 'good.js')}`);
      expect(problems['unknown_capability.js']).to.match(/capabilities 'filesystem' unknown \(known: fetch\)/);
      const health = provider.health();
      expect(health.state).to.equal('degraded');
      expect(health.detail).to.include('syntax_error.js');
      expect(logger.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).to.include(
        `tool file ${join(dir, 'syntax_error.js')} skipped: ${problems['syntax_error.js']}`,
      );
    } finally {
      await provider.close();
    }
  });

  it('gives each tool file its whole time limit to load, however many wait for a worker before it', async () => {
    // 40 files that each take 50 ms to load, one worker, a 1 s limit: loaded one after another they need 2 s in
    // all, so a limit counted from the start of the provider would run out for the last half of them.
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-qjs-many-'));
    try {
      const names = Array.from({ length: 40 }, (_, i) => `slow_${String(i).padStart(2, '0')}`);
      for (const name of names)
        writeFileSync(
          join(dir, `${name}.js`),
          `const until = Date.now() + 50;\nwhile (Date.now() < until) {}\n` +
            `export default { name: '${name}', description: 'loads in 50 ms', inputSchema: { type: 'object' }, run() { return '${name}'; } };\n`,
        );
      const provider = new QuickJsToolProvider(
        { dirs: [dir], watch: false, timeoutMs: 1000, workers: 1 },
        recordingLogger(),
      );
      await provider.start();
      try {
        expect(provider.problems()).to.deep.equal([]);
        expect((await provider.list()).map((t) => t.name).sort()).to.deep.equal(names);
        expect(await provider.call('slow_39', {}, callContext())).to.deep.equal({ output: 'slow_39' });
      } finally {
        await provider.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a tool directory that does not exist, and keeps running', async () => {
    const provider = new QuickJsToolProvider({ dirs: ['./no/such/dir'], watch: false });
    await provider.start();
    try {
      expect(await provider.list()).to.deep.equal([]);
      expect(provider.problems()[0]).to.deep.include({ file: join(process.cwd(), 'no/such/dir') });
      expect(provider.health().state).to.equal('degraded');
    } finally {
      await provider.close();
    }
  });

  it('picks up a tool added to a watched directory without a restart, and tells onChange listeners', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-quickjs-watch-'));
    copyFileSync(join(fixtures, 'hostile/echo.js'), join(dir, 'echo.js'));
    const provider = new QuickJsToolProvider({ dirs: [dir], watch: true, watchDebounceMs: 20 });
    await provider.start();
    try {
      expect((await provider.list()).map((t) => t.name)).to.deep.equal(['echo']);
      const changed = () =>
        new Promise<void>((resolve) => {
          const off = provider.onChange(() => {
            off();
            resolve();
          });
        });
      let next = changed();
      writeFileSync(
        join(dir, 'shout.js'),
        `export default {
        name: 'shout', description: 'Upper-cases text.', inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
        run({ text }) { return text.toUpperCase() + '!'; },
      };\n`,
      );
      await next;
      expect((await provider.list()).map((t) => t.name)).to.deep.equal(['echo', 'shout']);
      expect(await provider.call('shout', { text: 'hello' }, callContext())).to.deep.equal({ output: 'HELLO!' });

      next = changed();
      unlinkSync(join(dir, 'shout.js'));
      await next;
      expect((await provider.list()).map((t) => t.name)).to.deep.equal(['echo']);
    } finally {
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tools-quickjs: the plugin package', () => {
  it('default-exports a plugin', () => {
    expect(isOpspawnPlugin(plugin)).to.equal(true);
  });

  it('declares in its manifest the same defaults the provider uses', () => {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'plugins/tools-quickjs/package.json'), 'utf8')) as {
      opspawn: { configSchema: { properties: Record<string, { default?: unknown }> } };
    };
    const properties = Object.entries(manifest.opspawn.configSchema.properties);
    const defaults = Object.fromEntries(
      properties.filter(([, v]) => v.default !== undefined).map(([k, v]) => [k, v.default]),
    );
    expect(defaults).to.deep.equal(DEFAULT_OPTIONS);
    // The worker count follows the machine, so the manifest gives none and says what happens instead.
    expect(properties.map(([k]) => k)).to.include('workers');
    expect(DEFAULT_OPTIONS).to.not.have.property('workers');
  });

  it('refuses calls before start and after close with a clear error', async () => {
    const provider = new QuickJsToolProvider({ watch: false });
    const before = await provider.call('calculate', {}, callContext()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(before).to.include({ code: 'OPSPAWN_TOOL_FAILED' });
    expect(String((before as Error).message)).to.include('not started');
    expect(provider.health().state).to.equal('down');
    expect(SandboxErrorCodes.TIMEOUT).to.equal('OPSPAWN_TOOL_TIMEOUT');
  });
});
