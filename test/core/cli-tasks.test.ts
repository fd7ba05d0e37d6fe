import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Deployment } from '../helpers/deployment.js';

/** The CLI as a client of a running host, as a user would use it: `opspawn start` in one process, `opspawn tasks` in others. */
describe('opspawn tasks (against a running host)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let host: ChildProcess;
  let url: string;

  before(async () => {
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-scripted', 'transport-rest'])
      d.linkBuiltIn(id);
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted',
        { use: '@opspawn/transport-rest', options: { port: 0, apiKeys: [{ key: 'cli-key', name: 'cli', scopes: ['admin'] }] } }],
      log: { level: 'silent' },
    }`);
    ({ host, url } = await d.start());
  });
  after(async () => {
    host.kill('SIGTERM');
    await new Promise((r) => host.once('exit', r));
    d.cleanup();
  });

  const cli = (args: string[], env: Record<string, string> = {}) =>
    d.run(['tasks', ...args], { env: { OPSPAWN_URL: url, OPSPAWN_TOKEN: 'cli-key', ...env } });

  it('submits with --wait, prints the steps, and exits with the outcome', async () => {
    writeFileSync(join(d.dir, 'ok.json'), JSON.stringify({ goal: 'hello', input: { plan: [], final: 'hi' } }));
    const ok = await cli(['submit', 'ok.json', '--wait']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^task_\w{26} queued\n/);
    expect(ok.stdout).to.contain('\n= hi\n');
    expect(ok.stdout.trim().split('\n').at(-1)).to.equal('• succeeded (attempt 1)');
    writeFileSync(
      join(d.dir, 'bad.json'),
      JSON.stringify({ goal: 'boom', input: { plan: [{ tool: 'none__here' }] }, maxAttempts: 1 }),
    );
    expect((await cli(['submit', 'bad.json', '--wait'])).code).to.equal(10);
  });

  it('lists, gets and cancels, with --json for scripts', async () => {
    writeFileSync(
      join(d.dir, 'later.json'),
      JSON.stringify({
        goal: 'later',
        input: { plan: [], final: 1 },
        notBefore: new Date(Date.now() + 60_000).toISOString(),
        labels: { kind: 'later' },
      }),
    );
    const submitted = JSON.parse((await cli(['submit', 'later.json', '--json'])).stdout);
    const list = await cli(['list', '--label', 'kind=later', '--json']);
    expect(JSON.parse(list.stdout).tasks.map((t: any) => t.id)).to.deep.equal([submitted.id]);
    const human = await cli(['list', '--status', 'queued']);
    expect(human.stdout.split('\n')[0]).to.match(/^ID\s+STATUS\s+ATTEMPTS\s+CREATED\s+GOAL$/);
    expect((await cli(['get', submitted.id])).stdout).to.contain(`${submitted.id}  queued`);
    expect((await cli(['cancel', submitted.id])).stdout.trim()).to.equal(`${submitted.id} cancelled`);
  });

  it('says clearly what is wrong and how to fix it: unknown task, bad key, unreachable host, invalid task', async () => {
    const missing = await cli(['get', 'task_00000000000000000000000000']);
    expect(missing.code).to.equal(7);
    expect(missing.stderr).to.match(/^error OPSPAWN_TASK_NOT_FOUND: .+ \(fix: check the id.*\)$/m);
    const badKey = await cli(['list'], { OPSPAWN_TOKEN: 'wrong' });
    expect(badKey.code).to.equal(9);
    expect(badKey.stderr).to.contain('error OPSPAWN_UNAUTHENTICATED: the API key is not valid (fix: ');
    const down = await cli(['list'], { OPSPAWN_URL: 'http://127.0.0.1:9' });
    expect(down.code).to.equal(8);
    expect(down.stderr).to.contain('cannot reach http://127.0.0.1:9');
    expect(down.stderr).to.contain('(fix: start the host (opspawn start)');
    const missingFile = await cli(['submit', 'no-such-task.json']);
    expect(missingFile.code).to.equal(2);
    expect(missingFile.stderr).to.match(/^error OPSPAWN_INVALID_REQUEST: cannot read no-such-task.json: .+ \(fix: /);
    writeFileSync(join(d.dir, 'invalid.json'), JSON.stringify({ goal: '' }));
    const invalid = await cli(['submit', 'invalid.json']);
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr).to.contain('goal: must NOT have fewer than 1 characters');
  });

  it("finds the host from the deployment's config when neither --url nor $OPSPAWN_URL is given", async () => {
    const port = new URL(url).port;
    const noUrl = { OPSPAWN_URL: '', OPSPAWN_CONFIG: '', OPSPAWN_TOKEN: 'cli-key' };
    // A config given with -c names the host's REST port; so does ./opspawn.config.ts of another folder.
    d.config(
      `{ plugins: [{ use: '@opspawn/transport-rest', options: { host: '0.0.0.0', port: ${port} } }] }`,
      'client.config.ts',
    );
    const named = await d.run(['-c', 'client.config.ts', 'tasks', 'list', '--json'], { env: noUrl });
    expect(named.code, named.stderr).to.equal(0);
    expect(JSON.parse(named.stdout)).to.have.property('tasks');
    const other = new Deployment().config(
      `{ plugins: [{ use: '@opspawn/transport-rest', options: { port: ${port} } }] }`,
    );
    try {
      const implicit = await other.run(['tasks', 'list', '--json'], { env: noUrl });
      expect(implicit.code, implicit.stderr).to.equal(0);
    } finally {
      other.cleanup();
    }
    // --url still wins over the config.
    const pinned = await d.run(['-c', 'client.config.ts', 'tasks', 'list', '--url', 'http://127.0.0.1:9'], {
      env: noUrl,
    });
    expect(pinned.code).to.equal(8);
    expect(pinned.stderr).to.contain('cannot reach http://127.0.0.1:9');
    // This deployment's own config lets the port be picked at start: the CLI says it cannot know it, and how to say it.
    const picked = await d.run(['tasks', 'list'], { env: noUrl });
    expect(picked.code).to.equal(2);
    expect(picked.stderr).to.match(/port: 0\), so its address is not in the config \(fix: pass --url/);
    d.config(`{ plugins: ['@opspawn/broker-memory'] }`, 'worker.config.ts');
    const noRest = await d.run(['-c', 'worker.config.ts', 'tasks', 'list'], { env: noUrl });
    expect(noRest.code).to.equal(2);
    expect(noRest.stderr).to.contain('enables no REST transport (@opspawn/transport-rest)');
    const missing = await d.run(['-c', 'nope.config.ts', 'tasks', 'list'], { env: noUrl });
    expect(missing.code).to.equal(3);
    expect(missing.stderr).to.contain('nope.config.ts does not exist');
  });

  it('gives the code, the fix and the exit code in --json output too', async () => {
    const missing = await cli(['get', 'task_00000000000000000000000000', '--json']);
    expect(missing.code).to.equal(7);
    const answer = JSON.parse(missing.stdout);
    expect(answer).to.include({ ok: false, exitCode: 7, status: 404, code: 'OPSPAWN_TASK_NOT_FOUND' });
    expect(answer.hint).to.match(/check the id/);
  });
});
