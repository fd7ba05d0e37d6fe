import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { Deployment } from '../../helpers/deployment.js';

const HOST = fileURLToPath(new URL('./fixtures/host.mjs', import.meta.url));
const TASKS = 500;

function startHost(d: Deployment, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [HOST], {
    cwd: d.dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('submitted') && resolve(child));
    child.on('exit', (code) => reject(new Error(`host exited with ${code}: ${err}`)));
  });
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('embedded recovery', function () {
  this.timeout(120_000);
  let d: Deployment;
  before(() => {
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-scripted']) d.linkBuiltIn(id);
    d.plugin({
      id: 'slow-tools',
      kinds: ['tool-provider'],
      register: `
      env.provide(sdk.extensionPoints.toolProvider, { create: () => ({
        namespace: 'slow',
        list: async () => [{ name: 'wait', description: 'waits', inputSchema: { type: 'object' } }],
        call: (name, args, ctx) => new Promise((resolve, reject) => {
          const t = setTimeout(() => resolve({ output: 'waited' }), args.ms);
          ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
        }),
      }) });`,
    });
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './data/tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', './plugins/slow-tools'],
      log: { level: 'silent' },
      tasks: { concurrency: 16 },
    }`);
  });
  after(() => d.cleanup());

  it(`loses no task and finishes none twice when the host is SIGKILLed with ${TASKS} tasks in flight and started again`, async () => {
    const host = await startHost(d, { SUBMIT: String(TASKS) });
    const db = new Database(join(d.dir, 'data/tasks.db'), { readonly: true, fileMustExist: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    await until(() => count("SELECT count(*) n FROM tasks WHERE status = 'succeeded'") >= 50, 'some tasks to finish');
    host.kill('SIGKILL');
    await new Promise((r) => host.once('exit', r));
    const unfinished = count("SELECT count(*) n FROM tasks WHERE status IN ('queued', 'running')");
    const runningAtKill = count("SELECT count(*) n FROM tasks WHERE status = 'running'");
    expect(unfinished, 'tasks still in flight at the kill').to.be.greaterThan(100);

    const again = await startHost(d, {});
    try {
      await until(
        () => count("SELECT count(*) n FROM tasks WHERE status IN ('succeeded', 'failed', 'cancelled')") === TASKS,
        'every task to finish',
      );
    } finally {
      again.kill('SIGTERM');
      await new Promise((r) => again.once('exit', r));
    }
    expect(count('SELECT count(*) n FROM tasks')).to.equal(TASKS);
    expect(count("SELECT count(*) n FROM tasks WHERE status = 'succeeded'")).to.equal(TASKS);
    // Exactly one final status event per task, and it is the task's last event.
    const finals = db
      .prepare(`SELECT task_id, count(*) n, max(seq) last FROM task_events
      WHERE type = 'status' AND json_extract(data, '$.status') IN ('succeeded', 'failed', 'cancelled') GROUP BY task_id`)
      .all() as Array<{ task_id: string; n: number; last: number }>;
    expect(finals).to.have.length(TASKS);
    expect(finals.filter((f) => f.n !== 1)).to.deep.equal([]);
    const lastSeqs = new Map(
      (db.prepare('SELECT id, last_seq FROM tasks').all() as Array<{ id: string; last_seq: number }>).map((r) => [
        r.id,
        r.last_seq,
      ]),
    );
    expect(finals.filter((f) => lastSeqs.get(f.task_id) !== f.last)).to.deep.equal([]);
    // The attempts that were running when the host died were counted and run again.
    expect(count('SELECT count(*) n FROM tasks WHERE attempts = 2')).to.equal(runningAtKill);
    expect(
      count("SELECT count(*) n FROM task_events WHERE json_extract(data, '$.error.code') = 'OPSPAWN_TASK_STALLED'"),
    ).to.equal(runningAtKill);
    db.close();
  });
});
