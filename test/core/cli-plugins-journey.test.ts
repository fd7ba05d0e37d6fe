import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO, runCli } from '../helpers/deployment.js';
import { NPM_ENV, packOpspawn, sh, type Run } from '../helpers/npm-sandbox.js';

const CONFIG = `// My deployment: one tool provider, nothing else yet.
import { defineConfig } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [],
  log: { level: 'warn' },
});
`;

/**
 * From an empty folder to a published plugin running in someone else's deployment, as a user goes: every step is
 * the real CLI or npm in a folder outside this repository.
 */
describe("a plugin from scaffold to someone else's deployment", function () {
  this.timeout(240_000);
  let work: string;
  let packages: Awaited<ReturnType<typeof packOpspawn>>;
  const expectOk = (r: Run, what: string) => expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).to.equal(0);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'opspawn-journey-'));
    packages = await packOpspawn();
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(packages.dir, { recursive: true, force: true });
  });

  it('scaffolds, builds, tests, packs, adds, starts, disables and removes a tool provider', async () => {
    // 1. The author writes the plugin.
    const created = await runCli(['plugins', 'new', 'greeter', '--kind', 'tool-provider'], { cwd: work });
    expectOk(created, 'plugins new');
    expect(created.stdout).to.contain(
      "created tool-provider plugin 'greeter' (package opspawn-plugin-greeter) in opspawn-plugin-greeter",
    );
    const author = join(work, 'opspawn-plugin-greeter');
    // core is named too only because nothing here can fetch it from a registry; @opspawn/testing depends on it.
    expectOk(
      await sh('npm', ['install', '--save-dev', packages.sdk, packages.core, packages.testing], author),
      'npm install in the plugin',
    );
    const tested = await sh('npm', ['test'], author);
    expectOk(tested, 'npm test');
    expect(tested.stdout).to.match(/5 passing/);
    const packed = await sh('npm', ['pack', '--silent'], author);
    expectOk(packed, 'npm pack');
    const tarball = join(author, packed.stdout.trim().split('\n').pop()!);
    expect(existsSync(tarball)).to.equal(true);

    // 2. Someone else's deployment: @opspawn/plugin-sdk and @opspawn/core installed, a config with a comment.
    const deployment = join(work, 'deployment');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(deployment);
    writeFileSync(join(deployment, 'package.json'), '{ "name": "my-deployment", "private": true, "type": "module" }\n');
    writeFileSync(join(deployment, 'opspawn.config.ts'), CONFIG);
    expectOk(await sh('npm', ['install', packages.sdk], deployment), 'npm install sdk');
    expectOk(await sh('npm', ['install', packages.core], deployment), 'npm install core');
    const opspawn = (args: string[]) =>
      sh(process.execPath, [join(deployment, 'node_modules/@opspawn/core/dist/cli/main.js'), ...args], deployment);

    const added = await opspawn(['plugins', 'add', tarball, '--option', 'maxTextLength=500']);
    expectOk(added, 'plugins add');
    expect(added.stdout).to.match(
      /^added plugin 'greeter' 0\.1\.0 \(opspawn-plugin-greeter\) to .*opspawn\.config\.ts/,
    );
    expect(readFileSync(join(deployment, 'opspawn.config.ts'), 'utf8')).to.equal(
      CONFIG.replace(
        "import { defineConfig } from '@opspawn/plugin-sdk';",
        "import { defineConfig, plugin } from '@opspawn/plugin-sdk';",
      ).replace('plugins: [],', "plugins: [plugin('opspawn-plugin-greeter', { maxTextLength: 500 })],"),
    );
    expect(JSON.parse(readFileSync(join(deployment, 'package.json'), 'utf8')).dependencies).to.have.property(
      'opspawn-plugin-greeter',
    );

    // 3. It runs once the deployment has a store and a broker: start names what is missing and the commands that
    // add it, and those commands (here with the packed built-ins) are all it takes.
    const bare = await opspawn(['start']);
    expect(bare.code).to.equal(4);
    expect(bare.stderr).to.equal(
      'error OPSPAWN_KIND_MISSING: this deployment has no store and no broker, so it cannot run tasks (fix: opspawn plugins add @opspawn/store-sqlite && opspawn plugins add @opspawn/broker-memory)\n',
    );
    const builtIns = await sh(
      'npm',
      [
        'pack',
        '-w',
        'plugins/store-memory',
        '-w',
        'plugins/broker-memory',
        '--pack-destination',
        packages.dir,
        '--silent',
      ],
      REPO,
    );
    expectOk(builtIns, 'npm pack of the in-memory store and broker');
    for (const name of builtIns.stdout.trim().split('\n'))
      expectOk(await opspawn(['plugins', 'add', join(packages.dir, name.trim())]), `plugins add ${name}`);
    const started = await startHost(join(deployment, 'node_modules/@opspawn/core/dist/cli/main.js'), deployment);
    expect(started.stderr).to.match(/greeter\s+0\.1\.0\s+tool-provider\s+started/);
    expect(await started.stop()).to.equal(0);
    const listed = await opspawn(['plugins', 'list']);
    expectOk(listed, 'plugins list');
    expect(listed.stdout).to.match(/greeter\s+0\.1\.0\s+tool-provider\s+enabled\s+opspawn-plugin-greeter/);

    // 4. Off, keeping its options; then gone, package and all.
    expectOk(await opspawn(['plugins', 'disable', 'greeter']), 'disable');
    expect((await opspawn(['plugins', 'list'])).stdout).to.match(/greeter\s+0\.1\.0\s+tool-provider\s+disabled/);
    expect(JSON.parse((await opspawn(['plugins', 'inspect', 'greeter', '--json'])).stdout).options).to.deep.equal({
      maxTextLength: 500,
    });
    const removed = await opspawn(['plugins', 'remove', 'greeter', '--purge']);
    expectOk(removed, 'remove');
    expect(readFileSync(join(deployment, 'opspawn.config.ts'), 'utf8')).not.to.contain('opspawn-plugin-greeter');
    expect(JSON.parse(readFileSync(join(deployment, 'package.json'), 'utf8')).dependencies).not.to.have.property(
      'opspawn-plugin-greeter',
    );
    expect(existsSync(join(deployment, 'node_modules/opspawn-plugin-greeter'))).to.equal(false);

    // 5. A package built for another kernel is refused after npm installed it, and npm's work is undone.
    const future = join(work, 'future');
    mkdirSync(future);
    writeFileSync(
      join(future, 'package.json'),
      JSON.stringify({
        name: 'opspawn-plugin-future',
        version: '3.0.0',
        type: 'module',
        main: 'index.js',
        opspawn: { id: 'future', kinds: ['tool-provider'], kernel: '^2.0.0' },
      }),
    );
    writeFileSync(join(future, 'index.js'), 'export default {};\n');
    const futurePacked = await sh('npm', ['pack', '--silent'], future);
    const before = {
      config: readFileSync(join(deployment, 'opspawn.config.ts'), 'utf8'),
      pkg: readFileSync(join(deployment, 'package.json'), 'utf8'),
    };
    const refused = await opspawn(['plugins', 'add', join(future, futurePacked.stdout.trim())]);
    expect(refused.code).to.equal(4);
    expect(refused.stderr.split('\n').filter((l) => l.startsWith('error '))).to.deep.equal([
      "error OPSPAWN_PLUGIN_KERNEL_MISMATCH: plugin 'future' supports kernel ^2.0.0, this kernel is 1.0.0 (fix: install a version of 'opspawn-plugin-future' built for kernel 1.0.0)",
    ]);
    expect(readFileSync(join(deployment, 'opspawn.config.ts'), 'utf8')).to.equal(before.config);
    expect(readFileSync(join(deployment, 'package.json'), 'utf8')).to.equal(before.pkg);
    expect(existsSync(join(deployment, 'node_modules/opspawn-plugin-future'))).to.equal(false);
  });
});

/** `opspawn start` until its startup report, then SIGTERM. */
function startHost(cli: string, cwd: string): Promise<{ stderr: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, 'start'], {
    cwd,
    env: { ...process.env, ...NPM_ENV, OPSPAWN_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b;
      if (stderr.includes('press Ctrl-C to stop'))
        resolve({
          stderr,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
    });
    void exited.then((code) => reject(new Error(`opspawn start exited early with ${code}: ${stderr}`)));
  });
}
