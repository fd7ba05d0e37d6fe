import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './deployment.js';

/**
 * The environment npm runs with in tests. @opspawn packages are not on the npm registry: they come from tarballs
 * packed from this repository, and their scope points at a closed local port, so npm can never fetch a stranger's
 * package of the same name (a failed metadata look-up fails at once instead of retrying). Everything else comes
 * from npm's cache when it is there (the repository's own install put it there).
 */
export const NPM_ENV: NodeJS.ProcessEnv = {
  'npm_config_@opspawn:registry': 'http://127.0.0.1:9/',
  npm_config_fetch_retries: '0',
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command as a user would in a terminal, with NPM_ENV. */
export function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...NPM_ENV, OPSPAWN_CONFIG: '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `npm pack` of plugin-sdk, core and testing from this repository (built): what a user would get from the registry. */
export async function packOpspawn(): Promise<{ sdk: string; core: string; testing: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-packages-'));
  const workspaces = ['plugin-sdk', 'core', 'core/testing'].flatMap((w) => ['-w', w]);
  const r = await sh('npm', ['pack', ...workspaces, '--pack-destination', dir, '--silent'], REPO);
  if (r.code !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  // One version for every package (scripts/release.mjs): core's names the tarballs.
  const { version } = JSON.parse(readFileSync(join(REPO, 'core/package.json'), 'utf8')) as { version: string };
  return {
    dir,
    sdk: join(dir, `opspawn-plugin-sdk-${version}.tgz`),
    core: join(dir, `opspawn-core-${version}.tgz`),
    testing: join(dir, `opspawn-testing-${version}.tgz`),
  };
}
