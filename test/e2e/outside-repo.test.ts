import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO } from '../helpers/deployment.js';
import { PrebuildMirror } from '../helpers/prebuild-mirror.js';
import { LocalRegistry } from '../helpers/registry.js';
import { until } from '../helpers/until.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Whatever this suite needs that a machine may lack; undefined when everything is there. */
function missing(): string | undefined {
  if (!existsSync(join(REPO, 'node_modules/verdaccio/package.json')))
    return 'verdaccio is not installed (npm install at the repository root installs it)';
  if (!existsSync(join(REPO, 'core/dist/cli/main.js'))) return 'the packages are not built (npm run build)';
  // Third-party packages come through the local registry from the one npm is configured with.
  const ping = spawnSync('npm', ['ping', '--fetch-timeout=5000', '--fetch-retries=0'], { timeout: 20_000 });
  if (ping.status !== 0) return 'the npm registry cannot be reached (npm ping failed)';
  return undefined;
}

/**
 * Opspawn as someone outside this repository meets it, against a real npm registry (Verdaccio) that holds every
 * package of this repository, published by the release script: a deployment created from nothing by package name,
 * installed, started and sent a task; a plugin scaffolded, tested, published, added by name, used, updated to a
 * newer version, and a version for another kernel refused. Nothing in the deployment points into this repository.
 */
describe('Opspawn outside its repository, through a real npm registry', function () {
  this.timeout(600_000);
  this.bail(true);
  let registry: LocalRegistry;
  let prebuilds: PrebuildMirror;
  let work: string;
  let host: string;
  let plugin: string;
  let version: string;
  let started = 0;

  /** A command as a user runs it in a terminal, with npm pointed at the local registry. */
  const sh = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd,
        env: { ...process.env, ...registry.env, ...prebuilds.env, OPSPAWN_CONFIG: '', NO_COLOR: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (what: string, run: Promise<Run>): Promise<Run> => {
    const r = await run;
    expect(r.code, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`).to.equal(0);
    return r;
  };
  const opspawn = (args: string[]) => sh('npx', ['--no-install', 'opspawn', ...args], host);

  before(async function () {
    started = Date.now();
    const lacking = missing();
    if (lacking) {
      if (process.env.CI === 'true') throw new Error(`${lacking}; CI must run this suite`);
      console.warn(`\n  !!! SKIPPING "${this.test?.parent?.fullTitle()}": ${lacking}. !!!\n`);
      this.skip();
    }
    work = mkdtempSync(join(tmpdir(), 'opspawn-outside-'));
    // npm's own cache, as a user has it, shared by every step: what the repository's install fetched is not
    // fetched again (tarballs are found by integrity; package documents always come from the local registry).
    registry = await LocalRegistry.start();
    // better-sqlite3's prebuilt binary, as a user's install downloads it (else SQLite compiles: minutes).
    prebuilds = await PrebuildMirror.start();
    version = (JSON.parse(readFileSync(join(REPO, 'core/package.json'), 'utf8')) as { version: string }).version;
  });
  after(async () => {
    await registry?.stop();
    await prebuilds?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    console.log(`      (the whole journey took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  });

  it('publishes every package of the repository with the release script', async () => {
    // dist/ is the one `npm test` just built from a clean clone (CI); the release script's own clean build is
    // exercised by maintainers (docs/how-to/release.md), and test/packages/packed-contents.test.ts checks dist/.
    const r = await ok(
      'release',
      sh(process.execPath, [join(REPO, 'scripts/release.mjs'), '--registry', registry.url, '--skip-build'], REPO),
    );
    expect(r.stdout).to.match(/published \d+ packages at /);
    const view = await ok('npm view', sh('npm', ['view', 'create-opspawn', 'version'], work));
    expect(view.stdout.trim()).to.equal(version);
  });

  it('creates a deployment from nothing with npm create opspawn, by package name only', async () => {
    const r = await ok(
      'npm create',
      // A cache of its own: npx keeps what it ran by name and version (not by registry), so npm's shared cache
      // could hand this step a create-opspawn of the same version from an earlier run instead of the one published.
      sh('npm', ['create', `opspawn@${version}`, 'my-host', '--', '--embedded'], work, {
        npm_config_yes: 'true',
        npm_config_cache: join(work, '.npx-cache'),
      }),
    );
    expect(r.stdout).to.contain('created an embedded Opspawn deployment in my-host');
    host = join(work, 'my-host');
    for (const file of [
      'package.json',
      'opspawn.config.ts',
      '.gitignore',
      'README.md',
      'config/tools/calculate.js',
      'config/tasks/first-task.json',
    ])
      expect(existsSync(join(host, file)), file).to.equal(true);
    const pkg = JSON.parse(readFileSync(join(host, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).to.equal('opspawn start');
    expect(pkg.dependencies).to.include({ '@opspawn/core': `^${version}`, '@opspawn/store-sqlite': `^${version}` });
  });

  it('installs it with npm install, and its config checks', async () => {
    await ok('npm install', sh('npm', ['install'], host));
    const check = await ok('config check', opspawn(['config', 'check']));
    expect(`${check.stdout}${check.stderr}`).to.not.match(/error/i);
  });

  it('runs a task with npm start: the sample calculator agent computes over REST', async () => {
    const running = await startHost();
    try {
      const events = await runTask(running.port, {
        goal: 'compute',
        agent: 'calculator',
        input: { plan: [{ tool: 'js__calculate', arguments: { expression: '6*7' } }] },
      });
      expect(events.find((e) => e.type === 'tool_result')?.data).to.deep.include({
        tool: 'js__calculate',
        ok: true,
        output: { value: 42 },
      });
    } finally {
      await running.stop();
    }
  });

  it('scaffolds a plugin whose next steps (npm install, npm test) pass, and publishes it', async () => {
    plugin = join(work, 'acme-shout');
    const created = await ok(
      'plugins new',
      opspawn([
        'plugins',
        'new',
        'shout',
        '--kind',
        'tool-provider',
        '--package',
        '@acme/opspawn-shout',
        '--dir',
        plugin,
      ]),
    );
    expect(created.stdout).to.match(/next:\n\s+cd .*\n\s+npm install\n\s+npm test/);
    await ok('npm install in the plugin', sh('npm', ['install'], plugin));
    const tested = await ok('npm test in the plugin', sh('npm', ['test'], plugin));
    expect(tested.stdout).to.match(/\d+ passing/);
    expect(tested.stdout).to.not.match(/failing/);
    await ok('npm publish', sh('npm', ['publish'], plugin));
    const published = await ok('npm view', sh('npm', ['view', '@acme/opspawn-shout', '--json'], work));
    const manifest = JSON.parse(published.stdout) as { devDependencies: Record<string, string> };
    for (const [name, range] of Object.entries(manifest.devDependencies))
      expect(range, `devDependencies.${name}`).to.not.match(/^(file|link|workspace):|^[./]/);
  });

  it('adds the published plugin by name and uses it in a task', async () => {
    const added = await ok('plugins add', opspawn(['plugins', 'add', '@acme/opspawn-shout']));
    expect(added.stdout).to.contain("added plugin 'shout' 0.1.0 (@acme/opspawn-shout)");
    expect(readFileSync(join(host, 'opspawn.config.ts'), 'utf8')).to.contain("'@acme/opspawn-shout'");
    const running = await startHost();
    try {
      const events = await runTask(running.port, {
        goal: 'count',
        input: { plan: [{ tool: 'shout__count_words', arguments: { text: 'one two three' } }] },
      });
      expect(events.find((e) => e.type === 'tool_result')?.data).to.deep.include({
        tool: 'shout__count_words',
        ok: true,
        output: { words: 3 },
      });
    } finally {
      await running.stop();
    }
  });

  it('updates the plugin to a newer published version with plugins update', async () => {
    await ok('npm version', sh('npm', ['version', 'patch', '--no-git-tag-version'], plugin));
    await ok('npm publish 0.1.1', sh('npm', ['publish'], plugin));
    const updated = await ok('plugins update', opspawn(['plugins', 'update']));
    expect(updated.stdout).to.contain("plugin 'shout' 0.1.0 -> 0.1.1");
    expect(installedVersion('@acme/opspawn-shout')).to.equal('0.1.1');
  });

  it('refuses an update to a version made for another kernel, and keeps the one installed', async () => {
    const pkgPath = join(plugin, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    pkg.opspawn.kernel = '^99.0.0';
    writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
    await ok('npm version', sh('npm', ['version', 'patch', '--no-git-tag-version'], plugin));
    await ok('npm publish 0.1.2', sh('npm', ['publish'], plugin));
    const refused = await opspawn(['plugins', 'update']);
    expect(refused.code, `${refused.stdout}\n${refused.stderr}`).to.not.equal(0);
    expect(refused.stderr).to.match(/error OPSPAWN_PLUGIN_KERNEL_MISMATCH: plugin 'shout' supports kernel \^99\.0\.0/);
    expect(installedVersion('@acme/opspawn-shout')).to.equal('0.1.1');
    expect(JSON.parse(readFileSync(join(host, 'package.json'), 'utf8')).dependencies['@acme/opspawn-shout']).to.equal(
      '^0.1.0',
    );
  });

  it('answers plugins add of a name the registry does not have with one error line', async () => {
    const r = await opspawn(['plugins', 'add', '@acme/opspawn-nothing-here']);
    expect(r.code).to.not.equal(0);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error'));
    expect(errors, r.stderr).to.have.length(1);
    expect(errors[0]).to.contain('@acme/opspawn-nothing-here');
    expect(readFileSync(join(host, 'opspawn.config.ts'), 'utf8')).to.not.contain('nothing-here');
  });

  it('leaves no path into this repository anywhere in the deployment', () => {
    for (const file of ['package.json', 'package-lock.json', 'opspawn.config.ts']) {
      const text = readFileSync(join(host, file), 'utf8');
      expect(text, file).to.not.contain(REPO);
      expect(text, file).to.not.match(/"(file|link|workspace):/);
    }
    const lock = JSON.parse(readFileSync(join(host, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string; link?: boolean }>;
    };
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (!path.includes('@opspawn/')) continue;
      expect(entry.link, path).to.not.equal(true);
      // npm may leave `resolved` out of a lockfile entry; when it is there, it is the registry.
      if (entry.resolved) expect(entry.resolved, path).to.match(/^http:\/\/127\.0\.0\.1:\d+\//);
    }
  });

  function installedVersion(name: string): string {
    return (JSON.parse(readFileSync(join(host, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version;
  }

  /** `npm start` in the deployment, on ports the system picks; resolves once the host says it is up. */
  async function startHost(): Promise<{ port: number; stop: () => Promise<void> }> {
    const npm: ChildProcess = spawn('npm', ['start', '--silent'], {
      cwd: host,
      env: {
        ...process.env,
        ...registry.env,
        OPSPAWN_CONFIG: '',
        NO_COLOR: '1',
        OPSPAWN_HTTP_PORT: '0',
        OPSPAWN_GRPC_PORT: '0',
        OPSPAWN_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, stopped as a terminal's Ctrl-C stops it: npm and the host it started both get the
      // signal (SIGTERM to npm alone left the host running, orphaned).
      detached: true,
    });
    let output = '';
    npm.stdout!.on('data', (b: Buffer) => (output += b));
    npm.stderr!.on('data', (b: Buffer) => (output += b));
    const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    const port = await new Promise<number>((resolve, reject) => {
      const look = () => {
        const found = /http listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (found && output.includes('press Ctrl-C to stop')) resolve(Number(found[1]));
      };
      npm.stdout!.on('data', look);
      npm.stderr!.on('data', look);
      void exited.then(() => reject(new Error(`npm start exited early:\n${output}`)));
    });
    return {
      port,
      stop: async () => {
        process.kill(-npm.pid!, 'SIGTERM');
        await exited;
        await until('the host to stop with npm', async () => (groupAlive(npm.pid!) ? undefined : true), 10_000);
      },
    };
  }

  /** Whether any process of the group led by `pid` still runs. */
  function groupAlive(pid: number): boolean {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Submits a task over REST, waits for it to end, and returns its events; it must have succeeded. */
  async function runTask(port: number, body: unknown): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    const base = `http://127.0.0.1:${port}/v1/tasks`;
    const submitted = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const task = (await submitted.json()) as { id: string };
    expect(submitted.status, JSON.stringify(task)).to.equal(202);
    let status = '';
    for (let i = 0; i < 300 && !['succeeded', 'failed', 'cancelled'].includes(status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = ((await (await fetch(`${base}/${task.id}`)).json()) as { status: string }).status;
    }
    const { events } = (await (await fetch(`${base}/${task.id}/events`)).json()) as {
      events: Array<{ type: string; data: Record<string, unknown> }>;
    };
    expect(status, JSON.stringify(events)).to.equal('succeeded');
    return events;
  }
});
