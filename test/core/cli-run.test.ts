import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { sampleTask } from '@opspawn/plugin-sdk/testing';
import { SqliteTaskStore } from '@opspawn/store-sqlite';
import { CLI, Deployment } from '../helpers/deployment.js';

describe('opspawn run', function () {
  let d: Deployment;
  before(() => {
    d = new Deployment();
    for (const id of ['store-memory', 'broker-memory', 'memory-buffer', 'planner-scripted']) d.linkBuiltIn(id);
    d.config(
      `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'] }`,
    );
  });
  after(() => d.cleanup());

  const task = (name: string, body: unknown) => {
    writeFileSync(join(d.dir, name), JSON.stringify(body));
    return name;
  };

  it('prints the events of a task as they happen and exits 0 when it succeeds', async () => {
    const r = await d.run(['run', task('ok.json', { goal: 'answer', input: { plan: [], final: { answer: 42 } } })]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^task task_\w{26}: answer$/);
    expect(lines.slice(1)).to.deep.equal([
      '• queued',
      '• running (attempt 1)',
      '= {"answer":42}',
      '• succeeded (attempt 1)',
    ]);
  });

  it('exits 10 when the task fails, with the error code and how to fix it on the last line', async () => {
    const r = await d.run([
      'run',
      task('bad.json', { goal: 'missing tool', input: { plan: [{ tool: 'x__y' }] }, maxAttempts: 1 }),
    ]);
    expect(r.code).to.equal(10);
    expect(r.stdout.trim().split('\n').at(-1)).to.match(
      /^• failed \(attempt 1\): OPSPAWN_PLANNER_FAILED: step 1 call 'x__y' failed: OPSPAWN_TOOL_NOT_FOUND.* \(fix: .+\)$/,
    );
  });

  it('prints one JSON event per line with --json', async () => {
    const r = await d.run(['run', task('json.json', { goal: 'json', input: { plan: [], final: 'x' } }), '--json']);
    expect(r.code).to.equal(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4]);
    expect(events.at(-1).data.status).to.equal('succeeded');
  });

  it('exits 2 with one line for a task file that is not JSON or not a valid task', async () => {
    writeFileSync(join(d.dir, 'broken.json'), '{ goal: ');
    const broken = await d.run(['run', 'broken.json']);
    expect(broken.code).to.equal(2);
    expect(broken.stderr).to.match(/^error OPSPAWN_INVALID_REQUEST: broken.json is not JSON: /);
    const invalid = await d.run(['run', task('invalid.json', { goal: '', priority: 50 })]);
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr).to.contain(
      'error OPSPAWN_TASK_INVALID: the task request is invalid: goal must NOT have fewer than 1 characters; priority must be <= 10',
    );
  });

  it('leaves the tasks of a host sharing its store alone (no recovery for a one-shot run)', async () => {
    const shared = new Deployment();
    try {
      for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-scripted']) shared.linkBuiltIn(id);
      shared.config(
        `{ plugins: [{ use: '@opspawn/store-sqlite', options: { path: './tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'] }`,
      );
      const store = SqliteTaskStore.open({ path: join(shared.dir, 'tasks.db'), busyTimeoutMs: 1000 });
      const elsewhere = (await store.create(sampleTask({ status: 'running', attempts: 1 }))).task;
      writeFileSync(join(shared.dir, 'mine.json'), JSON.stringify({ goal: 'mine', input: { plan: [], final: 1 } }));
      const r = await shared.run(['run', 'mine.json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(await store.get(elsewhere.id)).to.deep.include({ status: 'running', attempts: 1 });
      store.close();
    } finally {
      shared.cleanup();
    }
  });

  it('cancels its task on Ctrl-C and exits 11 once the task has ended cancelled', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    writeFileSync(
      join(d.dir, 'later.json'),
      JSON.stringify({ goal: 'later', input: { plan: [], final: 1 }, notBefore: later }),
    );
    const child = spawn(process.execPath, [CLI, 'run', 'later.json'], {
      cwd: d.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      const check = () => (stdout.includes('• queued') ? resolve() : setTimeout(check, 50));
      check();
    });
    child.kill('SIGINT');
    const code = await exited;
    expect(stderr).to.match(/SIGINT: cancelling task task_\w{26}/);
    expect(stdout.trim().split('\n').at(-1)).to.equal('• cancelled: OPSPAWN_TASK_CANCELLED: cancelled on request');
    expect(code).to.equal(11);
  });

  it("runs beside a host that holds the transports' ports: a one-shot run starts no transport", async () => {
    const busy = await listenAnywhere();
    const port = (busy.address() as { port: number }).port;
    const beside = new Deployment();
    try {
      for (const id of ['store-memory', 'broker-memory', 'memory-buffer', 'planner-scripted', 'transport-rest'])
        beside.linkBuiltIn(id);
      beside.config(
        `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', { use: '@opspawn/transport-rest', options: { host: '127.0.0.1', port: ${port} } }] }`,
      );
      writeFileSync(join(beside.dir, 'task.json'), JSON.stringify({ goal: 'beside', input: { plan: [], final: 7 } }));
      const r = await beside.run(['run', 'task.json']);
      expect(r.stderr).not.to.contain('EADDRINUSE');
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('= 7');
    } finally {
      beside.cleanup();
      busy.close();
    }
  });
});

function listenAnywhere(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
