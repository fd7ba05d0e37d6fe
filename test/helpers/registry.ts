import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './deployment.js';

/** Package names only this registry holds: never looked up upstream, so a stranger's package cannot answer. */
const LOCAL_ONLY = ['@opspawn/*', '@acme/*', 'create-opspawn'];

/**
 * A real npm registry (Verdaccio) on a random loopback port, with its own storage in a temporary folder: packages
 * of this repository and test plugins are published to it and installed from it by name, as a user would with the
 * public registry. Every other package is fetched through it from the registry npm is configured with here.
 *
 * `env` makes npm use it: a user config with the registry and a throwaway user's token.
 */
export class LocalRegistry {
  private constructor(
    readonly url: string,
    readonly dir: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly child: ChildProcess,
  ) {}

  static async start(options: { cache?: string } = {}): Promise<LocalRegistry> {
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-registry-'));
    const upstream = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
    const access = (proxy: boolean) =>
      `    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\n${proxy ? '    proxy: upstream\n' : ''}`;
    writeFileSync(
      join(dir, 'config.yaml'),
      `storage: ${join(dir, 'storage')}
auth:
  htpasswd:
    file: ${join(dir, 'htpasswd')}
    max_users: 10
uplinks:
  upstream:
    url: ${upstream}
    timeout: 60s
    max_fails: 5
packages:
${LOCAL_ONLY.map((name) => `  '${name}':\n${access(false)}`).join('')}  '**':
${access(true)}max_body_size: 50mb
log: { type: stdout, format: json, level: error }
`,
    );
    const server = `
const { runServer } = require(${JSON.stringify(join(REPO, 'node_modules/verdaccio'))});
runServer(${JSON.stringify(join(dir, 'config.yaml'))}).then((app) => {
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write('listening on ' + server.address().port + '\\n'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}, (error) => { console.error(error); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', server], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Verdaccio did not start in 30 s:\n${output}`)), 30_000);
      child.stderr!.on('data', (d: Buffer) => (output += d));
      child.stdout!.on('data', (d: Buffer) => {
        output += d;
        const found = /listening on (\d+)/.exec(output);
        if (found) {
          clearTimeout(timer);
          resolve(Number(found[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Verdaccio exited with code ${code}:\n${output}`));
      });
    });
    const url = `http://127.0.0.1:${port}/`;
    const token = await addUser(url, 'opspawn-test', 'opspawn-test-password');
    const npmrc = join(dir, 'npmrc');
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    const env: NodeJS.ProcessEnv = {
      npm_config_userconfig: npmrc,
      npm_config_registry: url,
      // npm's own cache (a user's, shared by every step) unless told otherwise: tarballs are found in it by
      // their integrity, so whatever this machine's installs already fetched is not fetched again.
      ...(options.cache ? { npm_config_cache: options.cache } : {}),
      // Package documents are always asked for again: a cached one from an earlier registry on the same port must
      // not stand for this one's.
      npm_config_prefer_online: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      // A package of this repository must come from here, never from the public registry.
      'npm_config_@opspawn:registry': url,
      'npm_config_@acme:registry': url,
    };
    return new LocalRegistry(url, dir, env, child);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates a user as `npm adduser` does; returns its token. */
async function addUser(url: string, name: string, password: string): Promise<string> {
  const response = await fetch(`${url}-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await response.json()) as { token?: string };
  if (!response.ok || !body.token) throw new Error(`Verdaccio refused the test user: ${JSON.stringify(body)}`);
  return body.token;
}
