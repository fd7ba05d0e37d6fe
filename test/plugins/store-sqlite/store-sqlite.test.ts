import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { sampleTask, scheduleStoreContract, storeContract } from '@opspawn/plugin-sdk/testing';
import { SqliteTaskStore } from '@opspawn/store-sqlite';

storeContract('store-sqlite (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-sqlite-'));
  const store = SqliteTaskStore.open({ path: join(dir, 'nested/tasks.db'), busyTimeoutMs: 2000 });
  return {
    store,
    cleanup: async () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

scheduleStoreContract('store-sqlite (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-sqlite-'));
  const store = SqliteTaskStore.open({ path: join(dir, 'tasks.db'), busyTimeoutMs: 2000 });
  return {
    schedules: store.schedules,
    cleanup: async () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('store-sqlite', function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'opspawn-sqlite-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps tasks and events across a close and reopen, migrating only once', async () => {
    const path = join(dir, 'tasks.db');
    const first = SqliteTaskStore.open({ path, busyTimeoutMs: 1000 });
    const task = (await first.create(sampleTask({ labels: { keep: 'yes' } }))).task;
    await first.appendEvent(task.id, 'log', { message: 'hello' });
    first.close();
    const again = SqliteTaskStore.open({ path, busyTimeoutMs: 1000 });
    expect(await again.get(task.id)).to.deep.equal(task);
    expect((await again.events(task.id, 0, 10)).map((e) => e.data)).to.deep.equal([{ message: 'hello' }]);
    expect((await again.appendEvent(task.id, 'log', {})).seq).to.equal(2);
    again.close();
  });

  it('gives exactly one compare-and-set winner between two stores on the same file (two processes)', async () => {
    const path = join(dir, 'shared.db');
    const a = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    const b = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    const task = (await a.create(sampleTask())).task;
    const results = await Promise.all([
      a.transition(task.id, ['queued'], { status: 'running', attempts: 1 }, 0),
      b.transition(task.id, ['queued'], { status: 'running', attempts: 1 }, 0),
    ]);
    expect(results.filter(Boolean)).to.have.length(1);
    a.close();
    b.close();
  });

  it('tells of a write committed by another store on the same file (another process), not of its own', async () => {
    const path = join(dir, 'shared.db');
    const here = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    const elsewhere = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    const task = (await here.create(sampleTask())).task;
    const mark = here.foreignWrites();
    await here.appendEvent(task.id, 'log', { level: 'info', message: 'here' });
    expect(here.foreignWrites(), 'its own write').to.equal(mark);
    await elsewhere.appendEvent(task.id, 'log', { level: 'info', message: 'elsewhere' });
    expect(here.foreignWrites(), "the other store's write").to.not.equal(mark);
    here.close();
    elsewhere.close();
  });

  it('commits the other writes of a group commit when one of them is refused half-way, and none of that one', async () => {
    const store = SqliteTaskStore.open({ path: join(dir, 'batch.db'), busyTimeoutMs: 1000 });
    const task = (await store.create(sampleTask())).task;
    // Made in the same turn, so they share one transaction: the refused write comes between two good ones.
    const [before, refused, moved] = await Promise.allSettled([
      store.appendEvents(task.id, [{ type: 'log', data: { message: 'first' } }]),
      store.transitionWithEvents(task.id, ['queued'], { status: 'running', attempts: 1 }, 0, [
        { type: 'log', data: { message: 'fine' } },
        { type: 'log', data: { count: BigInt(1) } },
      ]),
      store.transitionWithEvents(task.id, ['queued'], { status: 'cancelled' }, 0, [
        { type: 'status', data: { status: 'cancelled', attempt: 0 } },
      ]),
    ]);
    expect(before.status).to.equal('fulfilled');
    expect(refused.status, 'an event that is not JSON').to.equal('rejected');
    expect(moved.status === 'fulfilled' && moved.value?.task.status, 'the write after it').to.equal('cancelled');
    expect(
      (await store.events(task.id, 0, 10)).map((e) => [e.seq, e.type, e.data]),
      'nothing of the refused write, seqs without a gap',
    ).to.deep.equal([
      [1, 'log', { message: 'first' }],
      [2, 'status', { status: 'cancelled', attempt: 0 }],
    ]);
    expect((await store.get(task.id))?.attempts, 'the refused move is not kept').to.equal(0);
    store.close();
  });

  it('gives back the events of many tasks written in one group commit complete, each task in seq order', async () => {
    const store = SqliteTaskStore.open({ path: join(dir, 'events.db'), busyTimeoutMs: 2000 });
    const tasks = await Promise.all(Array.from({ length: 50 }, () => store.create(sampleTask())));
    // 100 writes made in one turn share one group commit (250 events across 50 tasks).
    const writes = tasks.flatMap(({ task }, i) => [
      store.appendEvents(task.id, [
        { type: 'plan', data: { step: 1, task: i } },
        { type: 'tool_call', data: { name: 'a', arguments: { i } } },
        { type: 'tool_call', data: { name: 'b', arguments: { i } } },
      ]),
      store.transitionWithEvents(task.id, ['queued'], { status: 'running', attempts: 1 }, 0, [
        { type: 'log', data: { message: `started ${i}` } },
        { type: 'status', data: { status: 'running', attempt: 1 } },
      ]),
    ]);
    const results = await Promise.all(writes);
    for (const [i, { task }] of tasks.entries()) {
      const appended = results[2 * i] as Awaited<ReturnType<SqliteTaskStore['appendEvents']>>;
      const moved = results[2 * i + 1] as Awaited<ReturnType<SqliteTaskStore['transitionWithEvents']>>;
      const stored = await store.events(task.id, 0, 100);
      expect(stored.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(stored.map((e) => e.type)).to.deep.equal(['plan', 'tool_call', 'tool_call', 'log', 'status']);
      expect(stored, 'what the writes returned is what was stored').to.deep.equal([...appended, ...moved!.events]);
      expect(stored[3]!.data).to.deep.equal({ message: `started ${i}` });
      expect(moved!.task).to.deep.equal(await store.get(task.id));
    }
    store.close();
  });

  it('fails only the refused writes of a group commit over many tasks, leaving none of their events', async () => {
    const store = SqliteTaskStore.open({ path: join(dir, 'refused.db'), busyTimeoutMs: 2000 });
    const tasks = await Promise.all(Array.from({ length: 20 }, () => store.create(sampleTask())));
    const log = (message: string) => ({ type: 'log' as const, data: { message } });
    const settled = await Promise.allSettled([
      ...tasks.map(({ task }) => store.appendEvents(task.id, [log('a1'), log('a2')])),
      store.appendEvents(tasks[3]!.task.id, [log('fine'), { type: 'log', data: { count: BigInt(1) } }]),
      store.appendEvents('no-such-task', [log('lost')]),
      ...tasks.map(({ task }) => store.appendEvents(task.id, [log('b')])),
    ]);
    expect(settled.map((s) => s.status)).to.deep.equal([
      ...tasks.map(() => 'fulfilled'),
      'rejected',
      'rejected',
      ...tasks.map(() => 'fulfilled'),
    ]);
    for (const { task } of tasks) {
      const stored = await store.events(task.id, 0, 100);
      expect(
        stored.map((e) => [e.seq, e.data.message]),
        'seqs without a gap',
      ).to.deep.equal([
        [1, 'a1'],
        [2, 'a2'],
        [3, 'b'],
      ]);
    }
    store.close();
  });

  it('fails alone the write whose event the batch cannot insert, undoing its move, and commits the others', async () => {
    const path = join(dir, 'conflict.db');
    const store = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    const [a, b] = await Promise.all([store.create(sampleTask()), store.create(sampleTask())]);
    // Another connection puts a row where the move of `b` will number its event: that write's INSERT fails inside
    // the group commit, after its UPDATE moved the task, so the batch runs again with each write in a savepoint.
    const other = new Database(path);
    other
      .prepare('INSERT INTO task_events (task_id, seq, type, at, data) VALUES (?, 1, ?, ?, ?)')
      .run(b.task.id, 'log', new Date().toISOString(), '{"message":"squatter"}');
    other.close();
    const [first, clash, last] = await Promise.allSettled([
      store.appendEvents(a.task.id, [{ type: 'log', data: { message: 'a1' } }]),
      store.transitionWithEvents(b.task.id, ['queued'], { status: 'running', attempts: 1 }, 0, [
        { type: 'log', data: { message: 'b1' } },
      ]),
      store.appendEvents(a.task.id, [{ type: 'log', data: { message: 'a2' } }]),
    ]);
    expect([first.status, clash.status, last.status]).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.events(a.task.id, 0, 10)).map((e) => [e.seq, e.data.message])).to.deep.equal([
      [1, 'a1'],
      [2, 'a2'],
    ]);
    expect((await store.events(b.task.id, 0, 10)).map((e) => e.data.message)).to.deep.equal(['squatter']);
    expect((await store.get(b.task.id))?.status, 'the move is not kept').to.equal('queued');
    store.close();
  });

  it('commits a burst of writes in bounded groups, in order, with the event loop free between groups', async () => {
    const store = SqliteTaskStore.open({ path: join(dir, 'tasks.db'), busyTimeoutMs: 2000 });
    const tasks = Array.from({ length: 1000 }, (_, i) => sampleTask({ goal: `burst ${i}` }));
    const settled: string[] = [];
    const writes = tasks.map((task) => store.create(task).then(() => settled.push(task.goal)));
    // Queued after the burst: with one transaction for all 1,000, it would run only once every write had settled.
    const between = new Promise<number>((resolve) => setImmediate(() => resolve(settled.length)));
    await Promise.all(writes);
    expect(await between)
      .to.be.above(0)
      .and.below(1000);
    expect(settled).to.deep.equal(tasks.map((t) => t.goal));
    const stored = await Promise.all(tasks.map((t) => store.get(t.id)));
    expect(stored.map((t) => t?.goal)).to.deep.equal(tasks.map((t) => t.goal));
    // A close with writes still queued commits them all first.
    const late = tasks.map((t) => sampleTask({ goal: `late ${t.goal}` }));
    const lateWrites = late.map((t) => store.create(t));
    store.close();
    await Promise.all(lateWrites);
    const reopened = SqliteTaskStore.open({ path: join(dir, 'tasks.db'), busyTimeoutMs: 2000 });
    expect(await reopened.get(late.at(-1)!.id)).to.include({ goal: late.at(-1)!.goal });
    reopened.close();
  });

  it('says which file it cannot open and what to do', async () => {
    writeFileSync(join(dir, 'not-a-db'), 'hello, I am text');
    expect(() => SqliteTaskStore.open({ path: join(dir, 'not-a-db'), busyTimeoutMs: 100 })).to.throw(
      /OPSPAWN|cannot open the SQLite database .*not-a-db/,
    );
    writeFileSync(join(dir, 'file'), '');
    expect(() => SqliteTaskStore.open({ path: join(dir, 'file/sub/tasks.db'), busyTimeoutMs: 100 })).to.throw(
      /cannot open the SQLite database .*file\/sub\/tasks.db/,
    );
  });
});
