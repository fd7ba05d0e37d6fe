import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
