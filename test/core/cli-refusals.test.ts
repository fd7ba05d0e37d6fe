import { expect } from 'chai';
import { Deployment } from '../helpers/deployment.js';

/** Each refusal is one line naming the plugin, seen by a user running the real CLI. */
describe('opspawn plugins verify: refusals before any plugin code runs', function () {
  let d: Deployment;
  beforeEach(() => (d = new Deployment()));
  afterEach(() => d.cleanup());

  const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error '));

  it('refuses a plugin whose kernel range excludes this kernel, naming wanted and found', async () => {
    d.plugin({ id: 'future', kernel: '^2.0.0', register: 'record("registered")' }).config(
      `{ plugins: ['./plugins/future'] }`,
    );
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      "error OPSPAWN_PLUGIN_KERNEL_MISMATCH: plugin 'future' supports kernel ^2.0.0, this kernel is 1.0.0 (fix: install a version of 'fixture-future' built for kernel 1.0.0)",
    ]);
  });

  it('does not run plugin code while checking', async () => {
    d.plugin({ id: 'noisy', register: 'record("registered")' }).config(`{ plugins: ['./plugins/noisy'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('ok: 1 plugin(s) verified');
    const { existsSync } = await import('node:fs');
    expect(existsSync(d.recordFile)).to.equal(false);
  });

  it('refuses a required plugin that is missing, and one whose version is outside the range', async () => {
    d.plugin({ id: 'a', requires: { b: '^1.0.0', c: '^2.0.0' } })
      .plugin({ id: 'c', version: '1.4.0' })
      .config(`{ plugins: ['./plugins/a', './plugins/c'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    const lines = errorLines(r.stderr);
    expect(lines).to.include(
      "error OPSPAWN_PLUGIN_DEPENDENCY_MISSING: plugin 'a' requires plugin 'b' ^1.0.0, which is not in the config (fix: opspawn plugins add <the package of 'b'>)",
    );
    expect(lines).to.include(
      "error OPSPAWN_PLUGIN_DEPENDENCY_VERSION: plugin 'a' requires plugin 'c' ^2.0.0, found 1.4.0 (fix: install a version of 'c' matching ^2.0.0)",
    );
  });

  it('refuses a duplicate id, naming both entries', async () => {
    d.plugin({ id: 'twin', dir: 'one' }).plugin({ id: 'twin', dir: 'two' }).config(`{ plugins: ['./one', './two'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      "error OPSPAWN_PLUGIN_DUPLICATE: plugin 'twin' is declared twice: plugins[0] (./one) and plugins[1] (./two) (fix: remove one of the two: opspawn plugins remove ./two)",
    ]);
  });

  it('refuses an unknown kind', async () => {
    d.plugin({ id: 'odd', kinds: ['teleporter'] }).config(`{ plugins: ['./plugins/odd'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)[0]).to.match(
      /^error OPSPAWN_PLUGIN_UNKNOWN_KIND: plugin 'odd' declares unknown kind 'teleporter' \(fix: kinds are: store, broker/,
    );
  });

  it('refuses two stores when the config does not choose one, and accepts the choice', async () => {
    d.plugin({ id: 'store-a', kinds: ['store'] })
      .plugin({ id: 'store-b', kinds: ['store'] })
      .config(`{ plugins: ['./plugins/store-a', './plugins/store-b'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      "error OPSPAWN_KIND_AMBIGUOUS: plugins 'store-a' and 'store-b' all provide kind 'store' and only one can be active (fix: choose one: opspawn plugins use store-a --as store)",
    ]);
    d.config(`{ plugins: ['./plugins/store-a', './plugins/store-b'], store: 'store-b' }`);
    const ok = await d.run(['plugins', 'list', '--json']);
    expect(ok.code).to.equal(0);
    const listed = JSON.parse(ok.stdout).plugins as Array<{ id: string; status: string }>;
    expect(listed.map((p) => [p.id, p.status])).to.deep.equal([
      ['store-a', 'inactive'],
      ['store-b', 'enabled'],
    ]);
  });

  it('prints a dependency cycle as a path', async () => {
    d.plugin({ id: 'a', requires: { b: '*' } })
      .plugin({ id: 'b', requires: { c: '*' } })
      .plugin({ id: 'c', requires: { a: '*' } })
      .config(`{ plugins: ['./plugins/a', './plugins/b', './plugins/c'] }`);
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      'error OPSPAWN_PLUGIN_CYCLE: plugins require each other in a cycle: a -> b -> c -> a (fix: remove one of the requirements)',
    ]);
  });

  it('reports a package that is not a plugin, and a plugin that cannot be found', async () => {
    d.file('plain/package.json', JSON.stringify({ name: 'plain', version: '1.0.0' })).config(
      `{ plugins: ['./plain', '@acme/opspawn-nothing'] }`,
    );
    const r = await d.run(['plugins', 'verify']);
    expect(r.code).to.equal(4);
    const lines = errorLines(r.stderr);
    expect(lines[0]).to.match(/^error OPSPAWN_PLUGIN_MANIFEST_INVALID: package 'plain' has no "opspawn" manifest/);
    expect(lines[1]).to.match(
      /^error OPSPAWN_PLUGIN_NOT_FOUND: plugin '@acme\/opspawn-nothing' \(plugins\[1\]\) was not found from .* \(fix: npm install @acme\/opspawn-nothing/,
    );
  });

  it('gives --json output with every problem for scripts', async () => {
    d.plugin({ id: 'future', kernel: '>=3' })
      .plugin({ id: 'odd', kinds: ['nope'] })
      .config(`{ plugins: ['./plugins/future', './plugins/odd'] }`);
    const r = await d.run(['plugins', 'verify', '--json']);
    expect(r.code).to.equal(4);
    const out = JSON.parse(r.stdout);
    expect(out.ok).to.equal(false);
    expect(out.problems.map((p: { code: string; plugin: string }) => [p.code, p.plugin])).to.have.deep.members([
      ['OPSPAWN_PLUGIN_UNKNOWN_KIND', 'odd'],
      ['OPSPAWN_PLUGIN_KERNEL_MISMATCH', 'future'],
    ]);
  });
});

describe('opspawn config check', function () {
  let d: Deployment;
  beforeEach(() => (d = new Deployment()));
  afterEach(() => d.cleanup());

  const schema = {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string' },
      retries: { type: 'integer', minimum: 0, default: 3 },
      mode: { enum: ['fast', 'safe'], default: 'safe' },
    },
  };

  it('reports every invalid option of every plugin at once, with paths', async () => {
    d.plugin({ id: 'p1', configSchema: schema })
      .plugin({ id: 'p2', configSchema: schema })
      .config(
        `{ plugins: [{ use: './plugins/p1', options: { retries: -1, mode: 'turbo' } }, { use: './plugins/p2', options: { url: 7, colour: 'red' } }] }`,
      );
    const r = await d.run(['config', 'check']);
    expect(r.code).to.equal(4);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('error '));
    expect(lines).to.have.members([
      "error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[0] (p1) options.url: is required (fix: set it: opspawn config set plugins.p1.options.url <value> (see the options table in p1's README))",
      "error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[0] (p1) options.retries: must be >= 0 (fix: see the options table in p1's README)",
      'error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[0] (p1) options.mode: must be one of "fast", "safe" (fix: see the options table in p1\'s README)',
      "error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[1] (p2) options.colour: is not a known option (fix: opspawn config unset plugins.p2.options.colour, or see the options table in p2's README)",
      "error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[1] (p2) options.url: must be string (fix: see the options table in p2's README)",
      'error OPSPAWN_KIND_MISSING: this deployment has no store and no broker, so it cannot run tasks (fix: opspawn plugins add @opspawn/store-sqlite && opspawn plugins add @opspawn/broker-memory)',
    ]);
  });

  it('merges schema defaults into options and substitutes ${ENV} secrets', async () => {
    d.plugin({ id: 'p1', configSchema: schema }).config(
      `{ plugins: [{ use: './plugins/p1', options: { url: 'https://\${API_HOST}/v1' } }] }`,
    );
    const r = await d.run(['plugins', 'inspect', 'p1', '--json'], { env: { API_HOST: 'api.example.com' } });
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout).options).to.deep.equal({ url: 'https://api.example.com/v1', retries: 3, mode: 'safe' });
  });

  it('reports a missing environment variable with its path', async () => {
    d.plugin({ id: 'p1', configSchema: schema }).config(
      `{ plugins: [{ use: './plugins/p1', options: { url: '\${OPSPAWN_TEST_UNSET_URL}' } }] }`,
    );
    const r = await d.run(['config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr.trim()).to.equal(
      'error OPSPAWN_CONFIG_ENV_MISSING: plugins[0].options.url: environment variable OPSPAWN_TEST_UNSET_URL is not set (fix: export OPSPAWN_TEST_UNSET_URL=... before starting, or write ${OPSPAWN_TEST_UNSET_URL:-default} in the config)',
    );
  });

  it('reports config shape errors with their paths', async () => {
    d.config(`{ plugins: [{ use: './x', onBootFailure: 'explode' }], stor: 'x' } as any`);
    const r = await d.run(['config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain('error OPSPAWN_CONFIG_INVALID: stor: is not a known option');
    expect(r.stderr).to.contain(
      'error OPSPAWN_CONFIG_INVALID: plugins[0].onBootFailure: must be one of "abort", "continue"',
    );
  });

  it('loads .ts, .mjs and .json configs, from --config and OPSPAWN_CONFIG', async () => {
    d.plugin({ id: 'p1', kinds: ['store', 'broker'] });
    d.file('alt/conf.json', JSON.stringify({ plugins: ['../plugins/p1'] }));
    d.file('alt/conf.mjs', `export default { plugins: ['../plugins/p1'] };`);
    d.config(`{ plugins: ['./plugins/p1'] satisfies string[] }`);
    for (const [args, env] of [
      [[], {}],
      [['--config', 'alt/conf.json'], {}],
      [[], { OPSPAWN_CONFIG: 'alt/conf.mjs' }],
    ] as const) {
      const r = await d.run([...args, 'config', 'check'], { env });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('1 plugin(s) enabled');
    }
  });

  it('says what to do when there is no config or it does not load', async () => {
    const none = await d.run(['config', 'check']);
    expect(none.code).to.equal(3);
    expect(none.stderr).to.match(
      /^error OPSPAWN_CONFIG_NOT_FOUND: no opspawn\.config\.\{ts,mts,mjs,js,json\} in .* \(fix: run from your deployment folder, or pass --config <file>\)\n$/,
    );
    d.file('opspawn.config.ts', 'export default { plugins: [ }');
    const broken = await d.run(['config', 'check']);
    expect(broken.code).to.equal(3);
    expect(broken.stderr).to.match(/^error OPSPAWN_CONFIG_LOAD_FAILED: could not load .*opspawn.config.ts: /);
  });

  it('answers bad usage with exit code 2', async () => {
    const r = await d.run(['plugins', 'frobnicate']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("unknown command 'frobnicate'");
  });
});
