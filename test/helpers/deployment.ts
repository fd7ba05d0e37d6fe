import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'core/dist/cli/main.js');

export interface FixturePlugin {
  id: string;
  version?: string;
  kinds?: string[];
  kernel?: string;
  requires?: Record<string, string>;
  configSchema?: Record<string, unknown>;
  /** Body of `register(env)`; `sdk` is the imported @opspawn/plugin-sdk and `record(line)` appends to $RECORD_FILE. */
  register?: string;
  /** Folder (relative to the deployment) the package is written to. Default `plugins/<id>`. */
  dir?: string;
}

/**
 * A throwaway deployment folder outside the repository, as a user would have: node_modules/@opspawn/* link to this
 * repo's built packages, plugins are real packages on disk, and the config is a real file.
 */
export class Deployment {
  readonly dir = mkdtempSync(join(tmpdir(), 'opspawn-deploy-'));
  readonly recordFile = join(this.dir, 'record.log');

  constructor() {
    mkdirSync(join(this.dir, 'node_modules/@opspawn'), { recursive: true });
    for (const pkg of ['plugin-sdk', 'core'])
      symlinkSync(join(REPO, pkg), join(this.dir, 'node_modules/@opspawn', pkg));
  }

  /** Links a built-in plugin of this repo into node_modules, as `npm install @opspawn/<id>` would. */
  linkBuiltIn(id: string): this {
    symlinkSync(join(REPO, 'plugins', id), join(this.dir, 'node_modules/@opspawn', id));
    return this;
  }

  plugin(p: FixturePlugin): this {
    const dir = join(this.dir, p.dir ?? `plugins/${p.id}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: `fixture-${p.id}`,
          version: p.version ?? '1.0.0',
          type: 'module',
          main: 'index.js',
          opspawn: {
            id: p.id,
            kinds: p.kinds ?? [],
            kernel: p.kernel ?? '^1.0.0',
            requires: p.requires,
            configSchema: p.configSchema,
          },
        },
        null,
        2,
      ),
    );
    writeFileSync(
      join(dir, 'index.js'),
      `import * as sdk from '@opspawn/plugin-sdk';
import { appendFileSync } from 'node:fs';
const record = (line) => { if (process.env.RECORD_FILE) appendFileSync(process.env.RECORD_FILE, line + '\\n'); };
export default sdk.definePlugin({ register(env) { ${p.register ?? ''} } });
`,
    );
    return this;
  }

  file(name: string, content: string): this {
    mkdirSync(dirname(join(this.dir, name)), { recursive: true });
    writeFileSync(join(this.dir, name), content);
    return this;
  }

  /** Writes opspawn.config.ts the way a user would, with defineConfig. */
  config(body: string, name = 'opspawn.config.ts'): this {
    return this.file(
      name,
      `import { defineConfig } from '@opspawn/plugin-sdk';\n\nexport default defineConfig(${body});\n`,
    );
  }

  /** Runs the real CLI in this folder. */
  run(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
    return runCli(args, {
      cwd: this.dir,
      env: { RECORD_FILE: this.recordFile, ...options.env },
      timeoutMs: options.timeoutMs,
    });
  }

  /**
   * `opspawn start` in this deployment, as a user runs it; resolves with the process and the REST URL it prints once
   * it listens, rejects with its stderr when it exits first.
   */
  start(env: NodeJS.ProcessEnv = {}): Promise<{ host: ChildProcess; url: string }> {
    const host = spawn(process.execPath, [CLI, 'start'], {
      cwd: this.dir,
      env: { ...process.env, OPSPAWN_CONFIG: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return new Promise((resolvePromise, reject) => {
      let err = '';
      host.stderr!.on('data', (b: Buffer) => {
        err += b;
        const m = /http listening on (http:\/\/[\d.:]+)/.exec(err);
        if (m) resolvePromise({ host, url: m[1]! });
      });
      host.on('exit', (code) => reject(new Error(`host exited ${code}: ${err}`)));
    });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, OPSPAWN_CONFIG: '', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
