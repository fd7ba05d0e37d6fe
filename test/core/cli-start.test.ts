import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { CLI, Deployment } from '../helpers/deployment.js';

/** `opspawn start` as a user runs it: a real process, plugins from a folder outside this repository. */
describe('opspawn start', function () {
  let d: Deployment;
  // start refuses a deployment that cannot run tasks: every one here has the in-memory store and broker.
  beforeEach(() => (d = new Deployment().linkBuiltIn('store-memory').linkBuiltIn('broker-memory')));
  afterEach(() => d.cleanup());

  function start(args: string[] = []): Promise<{
    stderr: string;
    stdout: () => string;
    stop(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
  }> {
    const child = spawn(process.execPath, [CLI, ...args, 'start'], {
      cwd: d.dir,
      env: { ...process.env, RECORD_FILE: d.recordFile, OPSPAWN_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return new Promise((resolve, reject) => {
      const onData = () => {
        if (stderr.includes('press Ctrl-C to stop')) {
          child.stderr.off('data', onData);
          resolve({
            stderr,
            stdout: () => stdout,
            stop: async (signal) => {
              child.kill(signal);
              const code = await exited;
              return { code, stderr };
            },
          });
        }
      };
      child.stderr.on('data', onData);
      void exited.then((code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
    });
  }

  it('boots third-party plugins from a local path, reports them, and stops them in reverse order on SIGTERM', async () => {
    d.plugin({
      id: 'base',
      dir: 'vendor/base',
      register: `
        env.provide(sdk.createToken('acme.clock'), { create: () => { record('base start'); return { now: () => 1 }; }, dispose: () => record('base stop') });`,
    })
      .plugin({
        id: 'app',
        dir: 'vendor/app',
        requires: { base: '^1.0.0' },
        register: `
        env.registerInit({ deps: { clock: sdk.createToken('acme.clock') }, init: ({ clock }) => { record('app start ' + clock.now()); return () => record('app stop'); } });`,
      })
      .config(
        `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', './vendor/app', './vendor/base'], log: { level: 'warn' } }`,
      );
    const host = await start();
    expect(host.stderr).to.match(/opspawn started in [\d.]+ ms/);
    expect(host.stderr).to.match(/app\s+1\.0\.0\s+started/);
    expect(host.stderr).to.match(/base\s+1\.0\.0\s+started/);
    const { code, stderr } = await host.stop('SIGTERM');
    expect(code).to.equal(0);
    expect(stderr).to.contain('SIGTERM: stopping plugins');
    expect(readFileSync(d.recordFile, 'utf8').trim().split('\n')).to.deep.equal([
      'base start',
      'app start 1',
      'app stop',
      'base stop',
    ]);
  });

  it('stops on Ctrl-C (SIGINT) with exit code 0', async () => {
    d.plugin({ id: 'p', register: `env.registerInit({ init: () => () => record('p stop') })` }).config(
      `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', './plugins/p'], log: { level: 'warn' } }`,
    );
    const host = await start();
    const { code } = await host.stop('SIGINT');
    expect(code).to.equal(0);
    expect(readFileSync(d.recordFile, 'utf8')).to.equal('p stop\n');
  });

  it('exits 5 with one line naming plugin and phase when a plugin fails to start', async () => {
    d.plugin({
      id: 'flaky',
      register: `env.registerInit({ init: () => { throw new Error('cannot reach the database'); } })`,
    }).config(
      `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', './plugins/flaky'], log: { level: 'silent' } }`,
    );
    const r = await d.run(['start']);
    expect(r.code).to.equal(5);
    expect(r.stderr).to.contain(
      "error OPSPAWN_PLUGIN_START_FAILED: plugin 'flaky' failed in start: cannot reach the database",
    );
  });

  it('refuses an unknown --role with exit code 2, listing the roles', async () => {
    d.config(`{ plugins: [] }`);
    const result = await d.run(['start', '--role', 'scheduler']);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/argument 'scheduler' is invalid\. Allowed choices are all, api, worker/);
  });

  describe('logs', () => {
    const logging = () =>
      d
        .plugin({
          id: 'chatty',
          register: `env.registerInit({ deps: { log: sdk.services.logger }, init: ({ log }) => { log.info({ rows: 3 }, 'warmed the cache'); } })`,
        })
        .config(
          `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', './plugins/chatty'], log: { level: 'info' } }`,
        );

    it('are JSON lines for machines when stdout is not a terminal', async () => {
      logging();
      const host = await start();
      await host.stop('SIGTERM');
      const entries = host
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(entries.find((e) => e.msg === 'warmed the cache')).to.include({ plugin: 'chatty', rows: 3, level: 30 });
    });

    it('are one readable line per entry with --log-format pretty, naming the plugin', async () => {
      logging();
      const host = await start(['--log-format', 'pretty']);
      await host.stop('SIGTERM');
      const lines = host.stdout().trim().split('\n');
      expect(lines.filter((l) => l.trimStart().startsWith('{'))).to.deep.equal([]);
      expect(lines).to.satisfy((all: string[]) =>
        all.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[chatty\] warmed the cache \{"rows":3\}$/.test(l)),
      );
    });

    it('refuses an unknown --log-format with exit code 2, listing the formats', async () => {
      d.config(`{ plugins: [] }`);
      const result = await d.run(['--log-format', 'xml', 'start']);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/argument 'xml' is invalid\. Allowed choices are pretty, json/);
    });
  });
});
