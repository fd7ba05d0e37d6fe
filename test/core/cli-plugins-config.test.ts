import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Deployment } from '../helpers/deployment.js';

/** A config as a person writes it: comments, odd spacing, every entry form. */
const HANDWRITTEN = `// Our deployment. Keep this comment.
import { defineConfig, plugin } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    // the base everything needs
    { use: './vendor/base', options: { greeting: 'hi' } },
    './vendor/extra',   // a string entry, with a comment
    plugin('./vendor/app', { retries: 2 }),
  ],
  log: { level: 'warn' },   // quiet
});
`;

/** Editing the deployment's config from the CLI: checked before writing, minimal diffs, nothing else touched. */
describe('opspawn plugins add/remove/enable/disable: config edits', function () {
  let d: Deployment;
  const config = () => readFileSync(join(d.dir, 'opspawn.config.ts'), 'utf8');
  const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error '));

  beforeEach(() => {
    d = new Deployment()
      .plugin({
        id: 'base',
        dir: 'vendor/base',
        configSchema: { type: 'object', properties: { greeting: { type: 'string' } } },
      })
      .plugin({ id: 'extra', dir: 'vendor/extra' })
      .plugin({ id: 'app', dir: 'vendor/app', requires: { base: '^1.0.0' } })
      .plugin({
        id: 'weather',
        dir: 'vendor/weather',
        kinds: ['tool-provider'],
        configSchema: {
          type: 'object',
          additionalProperties: false,
          properties: { units: { enum: ['metric', 'imperial'] }, retries: { type: 'integer' } },
        },
      })
      .plugin({ id: 'future', dir: 'vendor/future', kernel: '^2.0.0' })
      .file('opspawn.config.ts', HANDWRITTEN);
  });
  afterEach(() => d.cleanup());

  it('adds a plugin as plugin(...) with its options, keeping every comment and line of the config', async () => {
    const r = await d.run(['plugins', 'add', './vendor/weather', '--option', 'units=metric', '--option', 'retries=3']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /^added plugin 'weather' 1\.0\.0 \(fixture-weather\) to .*opspawn\.config\.ts \(the previous version is in opspawn\.config\.ts\.bak\)\n$/,
    );
    expect(config()).to.equal(
      HANDWRITTEN.replace(
        "    plugin('./vendor/app', { retries: 2 }),\n",
        "    plugin('./vendor/app', { retries: 2 }),\n    plugin('./vendor/weather', { units: 'metric', retries: 3 }),\n",
      ),
    );
    expect(readFileSync(join(d.dir, 'opspawn.config.ts.bak'), 'utf8')).to.equal(HANDWRITTEN);
    const listed = await d.run(['plugins', 'list', '--json']);
    expect(
      JSON.parse(listed.stdout).plugins.map((p: { id: string; status: string }) => `${p.id}:${p.status}`),
    ).to.deep.equal(['base:enabled', 'extra:enabled', 'app:enabled', 'weather:enabled']);
  });

  it('writes an entry as the config writes its others, following its quotes in a one-line array', async () => {
    d.file(
      'opspawn.config.ts',
      `import { defineConfig } from "@opspawn/plugin-sdk";\n\nexport default defineConfig({ plugins: ["./vendor/base"] });\n`,
    );
    const r = await d.run(['plugins', 'add', './vendor/extra']);
    expect(r.code, r.stderr).to.equal(0);
    expect(config()).to.equal(
      `import { defineConfig } from "@opspawn/plugin-sdk";\n\nexport default defineConfig({ plugins: ["./vendor/base", "./vendor/extra"] });\n`,
    );
  });

  it('imports plugin() when the config has no entry yet', async () => {
    d.file(
      'opspawn.config.ts',
      `import { defineConfig } from "@opspawn/plugin-sdk";\n\nexport default defineConfig({ plugins: [] });\n`,
    );
    const r = await d.run(['plugins', 'add', './vendor/extra']);
    expect(r.code, r.stderr).to.equal(0);
    expect(config()).to.equal(
      `import { defineConfig, plugin } from "@opspawn/plugin-sdk";\n\nexport default defineConfig({ plugins: [plugin("./vendor/extra", {})] });\n`,
    );
  });

  it('prints the diff with --dry-run and changes nothing', async () => {
    const r = await d.run(['plugins', 'add', './vendor/weather', '--dry-run']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("+    plugin('./vendor/weather', {}),");
    expect(r.stdout).to.match(/^--- a\/opspawn\.config\.ts\n\+\+\+ b\/opspawn\.config\.ts\n/m);
    expect(r.stderr).to.contain('dry run: opspawn.config.ts is unchanged');
    expect(config()).to.equal(HANDWRITTEN);
    expect(existsSync(join(d.dir, 'opspawn.config.ts.bak'))).to.equal(false);
    for (const args of [
      ['remove', 'extra'],
      ['disable', 'extra'],
      ['remove', 'weather'],
    ]) {
      const other = await d.run(['plugins', ...args, '--dry-run']);
      expect(config(), args.join(' ')).to.equal(HANDWRITTEN);
      if (args[1] !== 'weather') expect(other.code, other.stderr).to.equal(0);
    }
  });

  it('refuses a plugin built for another kernel, naming wanted and found, with the config byte-identical', async () => {
    const r = await d.run(['plugins', 'add', './vendor/future']);
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      "error OPSPAWN_PLUGIN_KERNEL_MISMATCH: plugin 'future' supports kernel ^2.0.0, this kernel is 1.0.0 (fix: install a version of 'fixture-future' built for kernel 1.0.0)",
    ]);
    expect(config()).to.equal(HANDWRITTEN);
    expect(existsSync(join(d.dir, 'opspawn.config.ts.bak'))).to.equal(false);
    expect(readdirSync(d.dir).filter((f) => f.includes('candidate'))).to.deep.equal([]);
  });

  it("refuses options the plugin's schema rejects, and a plugin that is already there", async () => {
    const bad = await d.run(['plugins', 'add', './vendor/weather', '--option', 'units=kelvin', '--json']);
    expect(bad.code).to.equal(4);
    expect(
      JSON.parse(bad.stdout).problems.map((p: { code: string; plugin: string }) => [p.code, p.plugin]),
    ).to.deep.equal([['OPSPAWN_PLUGIN_OPTIONS_INVALID', 'weather']]);
    const twice = await d.run(['plugins', 'add', './vendor/extra']);
    expect(twice.code).to.equal(4);
    expect(errorLines(twice.stderr)[0]).to.match(/^error OPSPAWN_PLUGIN_DUPLICATE: plugin 'extra' is declared twice/);
    expect(config()).to.equal(HANDWRITTEN);
  });

  it('disables a plugin keeping its options, and enables it again', async () => {
    const off = await d.run(['plugins', 'disable', 'extra']);
    expect(off.code, off.stderr).to.equal(0);
    expect(config()).to.contain(
      "    plugin('./vendor/extra', {}, { enabled: false }),   // a string entry, with a comment\n",
    );
    const offApp = await d.run(['plugins', 'disable', 'app']);
    expect(offApp.code, offApp.stderr).to.equal(0);
    expect(config()).to.contain("plugin('./vendor/app', { retries: 2 }, { enabled: false })");
    const listed = JSON.parse((await d.run(['plugins', 'list', '--json'])).stdout).plugins as Array<{
      id: string;
      status: string;
    }>;
    expect(listed.map((p) => `${p.id}:${p.status}`)).to.deep.equal(['base:enabled', 'extra:disabled', 'app:disabled']);
    const inspect = JSON.parse((await d.run(['plugins', 'inspect', 'app', '--json'])).stdout);
    expect(inspect.options).to.deep.equal({ retries: 2 });
    const on = await d.run(['plugins', 'enable', 'app']);
    expect(on.code, on.stderr).to.equal(0);
    expect(config()).to.contain("    plugin('./vendor/app', { retries: 2 }),\n");
    expect(config()).to.contain('// Our deployment. Keep this comment.\n');
    expect(config()).to.contain("  log: { level: 'warn' },   // quiet\n");
    const again = await d.run(['plugins', 'enable', 'app']);
    expect(again.stdout).to.equal("plugin 'app' is already enabled; nothing to change\n");
  });

  it('disables an object entry with its field, keeping its options', async () => {
    d.file('opspawn.config.ts', HANDWRITTEN.replace("    plugin('./vendor/app', { retries: 2 }),\n", ''));
    const r = await d.run(['plugins', 'disable', 'base']);
    expect(r.code, r.stderr).to.equal(0);
    const inspect = JSON.parse((await d.run(['plugins', 'inspect', 'base', '--json'])).stdout);
    expect([inspect.status, inspect.options]).to.deep.equal(['disabled', { greeting: 'hi' }]);
    expect(config()).to.contain('// the base everything needs');
  });

  it('refuses to disable or remove a plugin another enabled plugin requires', async () => {
    for (const verb of ['disable', 'remove']) {
      const r = await d.run(['plugins', verb, 'base']);
      expect(r.code, verb).to.equal(4);
      expect(errorLines(r.stderr), verb).to.deep.equal([
        `error OPSPAWN_PLUGIN_DEPENDENCY_MISSING: plugin 'app' requires plugin 'base' ^1.0.0, which is not in the config${verb === 'disable' ? ' (it is disabled)' : ''} (fix: ${verb === 'disable' ? 'opspawn plugins enable base' : "opspawn plugins add <the package of 'base'>"})`,
      ]);
      expect(config(), verb).to.equal(HANDWRITTEN);
    }
  });

  it('removes a plugin with its line and the comment that leads it, and nothing else', async () => {
    const first = await d.run(['plugins', 'remove', 'app']);
    expect(first.code, first.stderr).to.equal(0);
    const second = await d.run(['plugins', 'remove', 'base']);
    expect(second.code, second.stderr).to.equal(0);
    expect(config()).to.equal(`// Our deployment. Keep this comment.
import { defineConfig, plugin } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    './vendor/extra',   // a string entry, with a comment
  ],
  log: { level: 'warn' },   // quiet
});
`);
    const unknown = await d.run(['plugins', 'remove', 'nope']);
    expect(unknown.code).to.equal(4);
    expect(errorLines(unknown.stderr)).to.deep.equal([
      `error OPSPAWN_PLUGIN_NOT_FOUND: no plugin 'nope' in ${join(d.dir, 'opspawn.config.ts')} (fix: known plugins: extra)`,
    ]);
  });

  it('answers --json with what it did', async () => {
    const r = await d.run(['plugins', 'disable', 'extra', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.include({
      ok: true,
      dryRun: false,
      action: 'disable',
      plugin: 'extra',
      backup: join(d.dir, 'opspawn.config.ts.bak'),
    });
  });

  it('refuses to edit a config whose plugins are not a literal list, changing nothing', async () => {
    const computed = `import { defineConfig } from '@opspawn/plugin-sdk';\nconst base = ['./vendor/base'];\nexport default defineConfig({ plugins: [...base] });\n`;
    d.file('opspawn.config.ts', computed);
    const r = await d.run(['plugins', 'add', './vendor/extra']);
    expect(r.code).to.equal(3);
    expect(errorLines(r.stderr)[0]).to.match(
      /^error OPSPAWN_CONFIG_NOT_EDITABLE: .*"plugins" is not a literal array the CLI can edit/,
    );
    expect(config()).to.equal(computed);
  });
});
