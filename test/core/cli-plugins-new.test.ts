import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PLUGIN_KINDS } from '@opspawn/plugin-sdk';
import { REPO, runCli } from '../helpers/deployment.js';
import { sh } from '../helpers/npm-sandbox.js';

/**
 * `opspawn plugins new` for every kind: the package builds and passes its own tests at once. The packages share
 * this repository's node_modules (typescript, mocha, tsx, @opspawn/*) through one link in their parent folder, so
 * no install is needed; the journey test installs a scaffold from npm the way an author does.
 */
describe('opspawn plugins new', function () {
  this.timeout(120_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'opspawn-scaffolds-'));
    symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const kind of PLUGIN_KINDS) {
    it(`writes a ${kind} plugin that builds and passes its own tests`, async () => {
      const created = await runCli(['plugins', 'new', `my-${kind}`, '--kind', kind], { cwd: work });
      expect(created.code, created.stderr).to.equal(0);
      const dir = join(work, `opspawn-plugin-my-${kind}`);
      const tested = await sh('npm', ['test'], dir);
      expect(tested.code, `${tested.stdout}\n${tested.stderr}`).to.equal(0);
      expect(tested.stdout)
        .to.match(/\d+ passing/)
        .and.not.match(/\d+ failing/);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      expect(pkg.opspawn).to.deep.include({ id: `my-${kind}`, kinds: [kind], kernel: '^1.0.0' });
    });
  }

  it('writes tests that boot the plugin with valid options, so a required option only needs a value there', async () => {
    const created = await runCli(['plugins', 'new', 'strict', '--kind', 'tool-provider'], { cwd: work });
    expect(created.code, created.stderr).to.equal(0);
    const dir = join(work, 'opspawn-plugin-strict');
    const test = readFileSync(join(dir, 'test/plugin.test.ts'), 'utf8');
    expect(test).to.contain('const options = { maxTextLength: 100000 };');
    // The author makes the option required: no default any more. The tests still boot it with a valid value.
    const pkgPath = join(dir, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    delete pkg.opspawn.configSchema.properties.maxTextLength.default;
    pkg.opspawn.configSchema.required = ['maxTextLength'];
    writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
    const tested = await sh('npm', ['test'], dir);
    expect(tested.code, `${tested.stdout}\n${tested.stderr}`).to.equal(0);
    expect(tested.stdout)
      .to.match(/\d+ passing/)
      .and.not.match(/\d+ failing/);
  });

  it('writes a package ready to publish: exports with types, files, keywords, a peer dependency on the SDK', async () => {
    const r = await runCli(
      ['plugins', 'new', 'weather', '--kind', 'tool-provider', '--package', '@acme/opspawn-weather', '--json'],
      { cwd: work },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.include({
      ok: true,
      id: 'weather',
      packageName: '@acme/opspawn-weather',
      dir: join(work, 'opspawn-weather'),
    });
    const pkg = JSON.parse(readFileSync(join(work, 'opspawn-weather/package.json'), 'utf8'));
    expect(pkg).to.deep.include({
      name: '@acme/opspawn-weather',
      type: 'module',
      files: ['dist', 'src', 'README.md'],
      peerDependencies: { '@opspawn/plugin-sdk': '^1.0.0' },
    });
    expect(pkg.exports['.']).to.deep.equal({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.keywords).to.include.members(['opspawn', 'opspawn-plugin']);
    expect(pkg.scripts).to.include.keys('build', 'test', 'prepack');
    expect(readFileSync(join(work, 'opspawn-weather/README.md'), 'utf8')).to.contain(
      '| `maxTextLength` | integer ≥ 1 | `100000` |',
    );
  });

  it('pins the toolchain this repository builds and tests with', () => {
    const pkg = JSON.parse(readFileSync(join(work, 'opspawn-weather/package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8'));
    for (const [name, range] of Object.entries(pkg.devDependencies as Record<string, string>)) {
      if (name.startsWith('@opspawn/')) continue;
      expect(String(range).replace(/^[~^]/, ''), name).to.equal(lock.packages[`node_modules/${name}`].version);
    }
  });

  it('refuses a bad id, an unknown kind and a folder that is not empty, with exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['plugins', 'new', 'My Tool', '--kind', 'tool-provider'],
        /^error OPSPAWN_SCAFFOLD_INVALID: 'My Tool' is not a plugin id \(fix: use lowercase/,
      ],
      [
        ['plugins', 'new', 'x', '--kind', 'teleporter'],
        /^error OPSPAWN_SCAFFOLD_INVALID: 'teleporter' is not a plugin kind \(fix: choose one of: store, broker/,
      ],
      [
        ['plugins', 'new', 'weather', '--kind', 'memory', '--dir', 'opspawn-weather'],
        /^error OPSPAWN_SCAFFOLD_INVALID: .*opspawn-weather already exists and is not empty/,
      ],
    ];
    for (const [args, line] of cases) {
      const r = await runCli(args, { cwd: work });
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr).to.match(line);
    }
  });
});
