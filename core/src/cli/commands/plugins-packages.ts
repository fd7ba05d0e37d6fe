import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

/** The deployment's package.json and package-lock.json as they were, to put back byte for byte. */
/**
 * What the user sees while npm works, on stderr so `--json` output stays clean: on a terminal a spinner with the
 * seconds so far, redrawn in place; elsewhere (CI logs, pipes) a plain line at the start and one every 10 s.
 */
export class NpmProgress {
  private static readonly FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  private timer?: NodeJS.Timeout;
  private began = 0;
  private frame = 0;

  constructor(
    private readonly doing: string,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly plainEveryMs = 10_000,
  ) {}

  start(): void {
    this.began = Date.now();
    if (this.out.isTTY) {
      this.draw();
      this.timer = setInterval(() => this.draw(), 100);
    } else {
      this.out.write(`${this.doing}…\n`);
      this.timer = setInterval(() => this.out.write(`${this.doing}… (${this.seconds()} s)\n`), this.plainEveryMs);
    }
    this.timer.unref();
  }

  stop(ok: boolean): void {
    clearInterval(this.timer);
    if (this.out.isTTY) this.out.write('\r\x1b[2K');
    this.out.write(`${this.doing}: ${ok ? 'done' : 'failed'} after ${this.seconds()} s\n`);
  }

  private draw(): void {
    const frame = NpmProgress.FRAMES[this.frame++ % NpmProgress.FRAMES.length];
    this.out.write(`\r\x1b[2K${frame} ${this.doing}… ${this.seconds()} s`);
  }

  private seconds(): string {
    return ((Date.now() - this.began) / 1000).toFixed(1);
  }
}

export interface PackagesSnapshot {
  files: Record<string, string | undefined>;
}

const TRACKED = ['package.json', 'package-lock.json'];

/**
 * The npm packages of a deployment: the folder of its config file, where `npm install --save` puts plugins.
 * npm runs as the user would run it there; `npm_config_*` variables (a scoped registry, `prefer-offline`) apply.
 */
export class DeploymentPackages {
  constructor(
    readonly dir: string,
    private readonly progress: (line: string) => void,
  ) {}

  snapshot(): PackagesSnapshot {
    const read = (name: string) =>
      existsSync(join(this.dir, name)) ? readFileSync(join(this.dir, name), 'utf8') : undefined;
    return { files: Object.fromEntries(TRACKED.map((name) => [name, read(name)])) };
  }

  /** Direct dependencies and the spec each was saved with. */
  dependencies(): Record<string, string> {
    const path = join(this.dir, 'package.json');
    if (!existsSync(path)) return {};
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { dependencies?: Record<string, string> };
    return pkg.dependencies ?? {};
  }

  installedVersion(name: string): string | undefined {
    const path = join(this.dir, 'node_modules', name, 'package.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version : undefined;
  }

  /** `npm install --save <spec>`; returns the name of the package it installed. */
  async install(spec: string): Promise<string> {
    const before = this.dependencies();
    await this.npm(['install', '--save', spec], spec, [0], `installing ${spec}`);
    const after = this.dependencies();
    const changed = Object.keys(after).filter((name) => after[name] !== before[name]);
    if (changed.length === 1) return changed[0]!;
    const named = /^(@[^/@]+\/)?[^/@.][^/@]*/.exec(spec)?.[0];
    if (named && named in after) return named;
    const file = Object.keys(after).find(
      (name) => after[name]!.startsWith('file:') && basename(after[name]!) === basename(resolve(spec)),
    );
    if (file) return file;
    throw new OpspawnError(
      ErrorCodes.PLUGIN_INSTALL_FAILED,
      `npm installed ${spec}, but which package it added to ${join(this.dir, 'package.json')} is unclear`,
      {
        hint: 'add it by its package name: opspawn plugins add <name>',
        plugin: spec,
      },
    );
  }

  /** `npm update <names>`: the newest versions within the ranges package.json allows. */
  async update(names: string[]): Promise<void> {
    await this.npm(['update', ...names], names.join(', '), [0], `updating ${names.join(', ')}`);
  }

  /** What `npm update` would install, by package: the newest version within the range. */
  async wanted(names: string[]): Promise<Record<string, string>> {
    // `npm outdated` exits 1 when something is outdated: that is an answer, not a failure.
    const out = await this.npm(['outdated', '--json', ...names], names.join(', '), [0, 1]);
    const parsed = JSON.parse(out || '{}') as Record<string, { wanted?: string }>;
    return Object.fromEntries(Object.entries(parsed).map(([name, v]) => [name, v.wanted ?? '']));
  }

  async uninstall(name: string): Promise<void> {
    await this.npm(['uninstall', name], name, [0], `uninstalling ${name}`);
  }

  /** Puts package.json and the lockfile back as they were and makes node_modules match them again. */
  async restore(snapshot: PackagesSnapshot, installed?: string): Promise<void> {
    this.progress("putting the deployment's packages back as they were");
    if (installed && snapshot.files['package.json'] === undefined) {
      await this.npm(['uninstall', installed], installed);
    }
    for (const [name, content] of Object.entries(snapshot.files)) {
      if (content === undefined) rmSync(join(this.dir, name), { force: true });
      else writeFileSync(join(this.dir, name), content);
    }
    if (snapshot.files['package.json'] !== undefined)
      await this.npm(['install'], 'the previous packages', [0], 'reinstalling the previous packages');
  }

  /** Runs npm in the deployment; with `doing`, shows progress on stderr while it works. */
  private npm(args: string[], culprit: string, okCodes = [0], doing?: string): Promise<string> {
    const progress = doing ? new NpmProgress(`${doing} with npm`) : undefined;
    const run = this.runNpm(args, culprit, okCodes);
    if (!progress) return run;
    progress.start();
    return run.then(
      (out) => {
        progress.stop(true);
        return out;
      },
      (error: unknown) => {
        progress.stop(false);
        throw error;
      },
    );
  }

  private runNpm(args: string[], culprit: string, okCodes: number[]): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn('npm', [...args, '--no-audit', '--no-fund'], {
        cwd: this.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('error', (error) =>
        reject(
          new OpspawnError(ErrorCodes.PLUGIN_INSTALL_FAILED, `could not run npm: ${error.message}`, {
            hint: 'install Node.js with npm, and make sure npm is on PATH',
            plugin: culprit,
            cause: error,
          }),
        ),
      );
      child.on('close', (code) => {
        if (okCodes.includes(code ?? -1)) return resolvePromise(stdout);
        const missing = /^npm (?:error|ERR!) (?:code )?(E404|ETARGET)\b/m.exec(stderr)?.[1];
        if (missing && args[0] === 'install' && culprit !== 'the previous packages') {
          const registry = /GET (https?:\/\/[^/\s]+(?::\d+)?\/)/.exec(stderr)?.[1];
          return reject(
            new OpspawnError(
              ErrorCodes.PLUGIN_NOT_FOUND,
              missing === 'E404'
                ? `no package '${culprit}' in the npm registry${registry ? ` ${registry}` : ''}`
                : `no version of '${culprit}' in the npm registry${registry ? ` ${registry}` : ''} matches what was asked`,
              {
                hint: `check the name and version (npm view ${culprit.replace(/(.)@[^/]*$/, '$1')} versions), and which registry npm uses (npm config get registry)`,
                plugin: culprit,
              },
            ),
          );
        }
        const reason = stderr
          .split('\n')
          .filter((l) => /^npm (error|ERR!)/.test(l))
          .slice(0, 3)
          .map((l) => l.replace(/^npm (error|ERR!)\s*/, ''))
          .join('; ');
        reject(
          new OpspawnError(
            ErrorCodes.PLUGIN_INSTALL_FAILED,
            `npm ${args[0]} ${culprit} failed in ${this.dir}: ${reason || `exit code ${code}`}`,
            {
              hint: 'check the package name, version or path, and that the npm registry can be reached',
              plugin: culprit,
            },
          ),
        );
      });
    });
  }
}
