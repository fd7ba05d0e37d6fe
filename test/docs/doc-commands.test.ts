import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLI, REPO } from '../helpers/deployment.js';
import { reachable } from '../helpers/services.js';

/**
 * The commands a reader types against a running host (the blocks fenced ```sh host) run as written, in page order
 * and in one shell per page, against a fresh host on the default deployment: a page whose commands drift from the
 * host fails here before a reader finds it.
 */
const PAGES: Array<{ page: string; expect: RegExp[] }> = [
  { page: 'README.md', expect: [/• succeeded/, /Usage: opspawn/] },
  {
    page: 'docs/tutorials/getting-started.md',
    expect: [
      /= \{"area":13\.5/,
      /OPSPAWN_TOOL_NOT_FOUND/,
      /^exit 10$/m,
      /calculator\s+planner-scripted/,
      /✗ js__text_stats OPSPAWN_TOOL_OUT_OF_SCOPE/,
    ],
  },
  {
    page: 'docs/how-to/define-agents.md',
    expect: [/⇢ agent calculator: task task_/, /= \{"area":13\.5,"by":"calculator"\}/, /task_\S+\s+succeeded/],
  },
  {
    page: 'docs/how-to/run-agents-on-a-schedule.md',
    expect: [
      /^every-minute next due \d{4}-/m,
      /every-minute\s+api\s+active\s+cron \* \* \* \* \* \(UTC\)/,
      /OPSPAWN_SCHEDULE_INVALID/,
      /^exit 2$/m,
      /^every-minute deleted$/m,
    ],
  },
  {
    page: 'docs/how-to/call-the-api.md',
    expect: [/^id: 5$/m, /"value":42/, /OPSPAWN_TASK_NOT_CANCELLABLE/, /first true\nsecond true\n/, /tasks\[1\]\.goal/],
  },
  { page: 'docs/how-to/use-the-dashboard.md', expect: [/^dashboard: 200 text\/html/m] },
];

function hostBlocks(page: string): string[] {
  const lines = readFileSync(join(REPO, page), 'utf8').split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```sh host') continue;
    const end = lines.indexOf('```', i + 1);
    blocks.push(lines.slice(i + 1, end).join('\n'));
    i = end;
  }
  return blocks;
}

/** A reader's shell: no API key, no host address of their own, the CLI's defaults. */
function readerEnv(): NodeJS.ProcessEnv {
  const { OPSPAWN_URL: _url, OPSPAWN_TOKEN: _token, OPSPAWN_CONFIG: _config, KEY: _key, ...env } = process.env;
  return { ...env, FORCE_COLOR: '0' };
}

function runShell(script: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -eo pipefail\n${script}`], {
      cwd: REPO,
      env: readerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b));
    child.stderr.on('data', (b: Buffer) => (output += b));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('docs: commands against a running host', function () {
  this.timeout(180_000);
  let host: ChildProcess | undefined;
  let data: string;

  before(async function () {
    if ((await reachable(8080)) || (await reachable(50051))) {
      const message = "ports 8080 or 50051 are taken: the docs commands need the default deployment's ports";
      if (process.env.CI === 'true') throw new Error(message);
      console.warn(`\n  !!! SKIPPING "${this.test?.parent?.fullTitle()}": ${message}. !!!\n`);
      this.skip();
    }
    data = mkdtempSync(join(tmpdir(), 'opspawn-doc-host-'));
    host = spawn(process.execPath, [CLI, 'start'], {
      cwd: REPO,
      env: { ...process.env, OPSPAWN_DB: join(data, 'opspawn.db'), OPSPAWN_CONFIG: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      host!.stderr!.on('data', (b: Buffer) => {
        stderr += b;
        if (stderr.includes('press Ctrl-C to stop')) resolve();
      });
      host!.once('exit', (code) => reject(new Error(`the host exited with ${code}: ${stderr}`)));
    });
  });

  after(async () => {
    if (host && host.exitCode === null) {
      const exited = new Promise((r) => host!.once('exit', r));
      host.kill('SIGTERM');
      await exited;
    }
    if (data) rmSync(data, { recursive: true, force: true });
  });

  for (const { page, expect: wanted } of PAGES) {
    it(`${page}: every command runs as written`, async () => {
      const blocks = hostBlocks(page);
      expect(blocks.length, `${page} has no \`\`\`sh host block`).to.be.greaterThan(0);
      const { code, output } = await runShell(blocks.join('\n'));
      expect(code, `the commands of ${page} failed:\n${output.slice(-3000)}`).to.equal(0);
      for (const pattern of wanted) expect(output, `${page} printed no ${pattern}`).to.match(pattern);
    });
  }
});
