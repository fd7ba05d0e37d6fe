import { expect } from 'chai';
import type { TaskStore } from '../extension-points/store.js';
import { newTaskId } from '../task-id.js';
import type { Task, TaskStatus } from '../task.js';

export interface StoreUnderTest {
  store: TaskStore;
  /** Runs after each test: close connections, drop what the test wrote. */
  cleanup?: () => Promise<void>;
}

let counter = 0;

/** A new task as the task engine would create it; labels carry a run-unique tag so shared databases work. */
export function sampleTask(overrides: Partial<Task> = {}): Task {
  const now = new Date().toISOString();
  const id = newTaskId();
  return {
    id,
    goal: `contract task ${counter++}`,
    input: { plan: [], nested: { list: [1, 'two', null] } },
    planner: 'planner-x',
    memory: 'memory-x',
    sessionId: id,
    status: 'queued',
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 60_000,
    maxSteps: 10,
    priority: 0,
    labels: {},
    cancelRequested: false,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/**
 * What every store promises (see `TaskStore`): idempotent create, newest-first paging with opaque cursors that
 * visit every task once, status and label filters, compare-and-set transitions with exactly one winner,
 * gap-free event sequence numbers under concurrency, and JSON that round-trips.
 *
 *     storeContract('store-sqlite', async () => ({ store: SqliteTaskStore.open({ path: ':memory:', busyTimeoutMs: 1000 }) }));
 */
export function storeContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`${name} keeps the store contract`, () => {
    /** Undefined while a make function fails: afterEach then has nothing to clean up, and the failure shows as is. */
    let subject: StoreUnderTest | undefined;
    let store: TaskStore;
    /** Every task of a test carries this label, so lists only see the test's own tasks. */
    let run: Record<string, string>;

    beforeEach(async () => {
      subject = undefined;
      subject = await makeStore();
      store = subject.store;
      run = { contractRun: `${process.pid}-${Date.now().toString(36)}-${counter++}` };
    });
    afterEach(async () => {
      await subject?.cleanup?.();
    });

    const make = (overrides: Partial<Task> = {}) =>
      sampleTask({ ...overrides, labels: { ...run, ...overrides.labels } });

    it('creates a task and gets it back unchanged, JSON included', async () => {
      const task = make({
        error: { code: 'X', message: 'y' },
        labels: { team: 'blue' },
        notBefore: new Date().toISOString(),
      });
      const { task: created, created: isNew } = await store.create(task);
      expect(isNew).to.equal(true);
      expect(created).to.deep.equal(task);
      expect(await store.get(task.id)).to.deep.equal(task);
    });

    it('gives undefined for an unknown id', async () => {
      expect(await store.get(newTaskId())).to.equal(undefined);
    });

    it('returns the existing task for a repeated idempotency key and writes nothing', async () => {
      const key = `key-${run.contractRun}`;
      const first = await store.create(make({ idempotencyKey: key, requestHash: 'h1' }));
      const second = await store.create(make({ idempotencyKey: key, requestHash: 'h2', goal: 'other' }));
      expect(second.created).to.equal(false);
      expect(second.task).to.deep.equal(first.task);
      expect((await store.list({ labels: run })).tasks).to.have.length(1);
    });

    it('lists newest first, filtered by any of the statuses and all of the labels', async () => {
      const a = make({ labels: { team: 'red', tier: '1' } });
      const b = make({ labels: { team: 'blue', tier: '1' }, status: 'running' });
      const c = make({ labels: { team: 'red', tier: '2' }, status: 'succeeded' });
      for (const t of [a, b, c]) await store.create(t);
      expect((await store.list({ labels: run })).tasks.map((t) => t.id)).to.deep.equal([c.id, b.id, a.id]);
      expect((await store.list({ labels: { ...run, team: 'red' } })).tasks.map((t) => t.id)).to.deep.equal([
        c.id,
        a.id,
      ]);
      expect((await store.list({ labels: { ...run, team: 'red', tier: '1' } })).tasks.map((t) => t.id)).to.deep.equal([
        a.id,
      ]);
      expect(
        (await store.list({ labels: run, status: ['running', 'succeeded'] })).tasks.map((t) => t.id),
      ).to.deep.equal([c.id, b.id]);
      expect((await store.list({ labels: { ...run, team: 'green' } })).tasks).to.deep.equal([]);
    });

    it('lists the children of a task (parentId), paging with the filter kept in the cursor', async () => {
      const parent = make();
      const other = make();
      await store.create(parent);
      await store.create(other);
      const children: string[] = [];
      for (let i = 0; i < 3; i++) {
        children.push((await store.create(make({ parentId: parent.id }))).task.id);
        await store.create(make({ parentId: other.id }));
      }
      const all = await store.list({ parentId: parent.id });
      expect(all.tasks.map((t) => t.id)).to.deep.equal([...children].reverse());
      expect(all.tasks.every((t) => t.parentId === parent.id)).to.equal(true);
      const first = await store.list({ parentId: parent.id, limit: 2 });
      const next = await store.list({ cursor: first.nextCursor, limit: 2 });
      expect([...first.tasks, ...next.tasks].map((t) => t.id)).to.deep.equal([...children].reverse());
      expect((await store.list({ parentId: newTaskId() })).tasks).to.deep.equal([]);
      const mixed = await store.list({ parentId: other.id, cursor: first.nextCursor }).then(
        () => undefined,
        (e: { code?: string }) => e,
      );
      expect(mixed?.code).to.equal('OPSPAWN_INVALID_REQUEST');
    });

    it('pages with cursors that visit every task once, even while tasks are added', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await store.create(make())).task.id);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ labels: run, limit: 3, cursor });
        seen.push(...page.tasks.map((t) => t.id));
        cursor = page.nextCursor;
        if (pages++ === 0) await store.create(make()); // newer than every cursor: not in this walk
      } while (cursor);
      expect(seen).to.deep.equal([...ids].reverse());
      expect(pages).to.equal(3);
    });

    it("keeps the first page's filters in its cursor, and refuses the cursor with other filters", async () => {
      const failed: string[] = [];
      for (let i = 0; i < 3; i++) {
        failed.push((await store.create(make({ status: 'failed' }))).task.id);
        await store.create(make({ status: 'succeeded' }));
      }
      const first = await store.list({ labels: run, status: ['failed'], limit: 1 });
      expect(first.tasks.map((t) => t.id)).to.deep.equal([failed[2]]);
      const walked = [...first.tasks];
      for (let cursor = first.nextCursor; cursor; ) {
        const page = await store.list({ cursor, limit: 1 }); // the cursor alone, as a "next" link carries it
        walked.push(...page.tasks);
        cursor = page.nextCursor;
      }
      expect(walked.map((t) => t.id)).to.deep.equal([...failed].reverse());
      expect(walked.every((t) => t.status === 'failed')).to.equal(true);
      const same = await store.list({ labels: run, status: ['failed'], cursor: first.nextCursor, limit: 1 });
      expect(same.tasks.map((t) => t.id)).to.deep.equal([failed[1]]);
      const other = await store.list({ status: ['succeeded'], cursor: first.nextCursor }).then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      expect(other?.code).to.equal('OPSPAWN_INVALID_REQUEST');
      expect(other?.message).to.contain('cursor was issued for other filters');
    });

    it('refuses a malformed cursor and an out-of-range limit with INVALID_REQUEST', async () => {
      for (const query of [
        { cursor: 'not a cursor' },
        { cursor: Buffer.from('{"x":1}').toString('base64url') },
        { limit: 0 },
        { limit: 501 },
        { limit: 2.5 },
      ]) {
        const error = await store.list(query).then(
          () => undefined,
          (e: { code?: string }) => e,
        );
        expect(error?.code, JSON.stringify(query)).to.equal('OPSPAWN_INVALID_REQUEST');
      }
    });

    it('applies a transition only from the expected statuses and attempts', async () => {
      const task = (await store.create(make())).task;
      expect(await store.transition(task.id, ['running'], { status: 'succeeded' })).to.equal(undefined);
      expect(await store.transition(task.id, ['queued'], { status: 'running', attempts: 1 }, 5)).to.equal(undefined);
      const running = await store.transition(
        task.id,
        ['queued'],
        { status: 'running', attempts: 1, startedAt: '2026-01-01T00:00:00.000Z' },
        0,
      );
      expect(running).to.include({ status: 'running', attempts: 1, startedAt: '2026-01-01T00:00:00.000Z' });
      expect(running!.updatedAt >= task.updatedAt).to.equal(true);
      const usage = { inputTokens: 900, outputTokens: 40, llmCalls: 2 };
      const done = await store.transition(
        task.id,
        ['running'],
        {
          status: 'succeeded',
          output: { answer: [42] },
          startedAt: null,
          finishedAt: '2026-01-01T00:00:01.000Z',
          usage,
        },
        1,
      );
      expect(done!.output).to.deep.equal({ answer: [42] });
      expect(done!.usage, 'the usage a transition sets').to.deep.equal(usage);
      expect(done!.startedAt).to.equal(undefined);
      expect(await store.get(task.id)).to.deep.equal(done);
      expect(await store.transition(newTaskId(), ['queued'], { status: 'running' })).to.equal(undefined);
    });

    it('keeps a task waiting for approval: found by status, moved back to queued by one decision only', async () => {
      const task = (await store.create(make({ status: 'running', attempts: 1 }))).task;
      const waiting = await store.transition(
        task.id,
        ['running'],
        { status: 'waiting_approval', leaseExpiresAt: null },
        1,
      );
      expect(waiting).to.include({ status: 'waiting_approval', attempts: 1 });
      expect((await store.findByStatus(['waiting_approval'], 1000)).map((t) => t.id)).to.include(task.id);
      expect((await store.list({ status: ['waiting_approval'], limit: 100 })).tasks.map((t) => t.id)).to.include(
        task.id,
      );
      const decisions = await Promise.all(
        Array.from({ length: 5 }, () => store.transition(task.id, ['waiting_approval'], { status: 'queued' }, 1)),
      );
      expect(decisions.filter(Boolean)).to.have.length(1);
      expect((await store.get(task.id))!.status).to.equal('queued');
    });

    it('lets exactly one of many concurrent transitions win', async () => {
      const task = (await store.create(make({ status: 'running', attempts: 1 }))).task;
      const finals: TaskStatus[] = ['succeeded', 'failed', 'cancelled'];
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => store.transition(task.id, ['running'], { status: finals[i % 3]! }, 1)),
      );
      const winners = results.filter(Boolean);
      expect(winners).to.have.length(1);
      expect((await store.get(task.id))!.status).to.equal(winners[0]!.status);
    });

    it('marks only queued or running tasks as asked to cancel', async () => {
      const queued = (await store.create(make())).task;
      const done = (await store.create(make({ status: 'succeeded' }))).task;
      expect((await store.requestCancel(queued.id))!.cancelRequested).to.equal(true);
      expect(await store.requestCancel(done.id)).to.equal(undefined);
      expect((await store.get(done.id))!.cancelRequested).to.equal(false);
    });

    it('numbers events 1, 2, 3… per task without gaps, even when appended concurrently', async () => {
      const a = (await store.create(make())).task;
      const b = (await store.create(make())).task;
      const appended = await Promise.all(
        Array.from({ length: 200 }, (_, i) => store.appendEvent(i % 2 ? a.id : b.id, 'log', { i, text: `line ${i}` })),
      );
      for (const id of [a.id, b.id]) {
        const seqs = appended
          .filter((e) => e.taskId === id)
          .map((e) => e.seq)
          .sort((x, y) => x - y);
        expect(seqs).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
      }
      const events = await store.events(a.id, 0, 1000);
      expect(events.map((e) => e.seq)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(events[0]!.data).to.deep.equal(appended.find((e) => e.taskId === a.id && e.seq === 1)!.data);
      expect((await store.events(a.id, 95, 3)).map((e) => e.seq)).to.deep.equal([96, 97, 98]);
      expect(await store.events(a.id, 100, 10)).to.deep.equal([]);
    });

    it('refuses an event for a task that does not exist', async () => {
      const error = await store.appendEvent(newTaskId(), 'log', {}).then(
        () => undefined,
        (e: { code?: string }) => e,
      );
      expect(error?.code).to.equal('OPSPAWN_TASK_NOT_FOUND');
    });

    it('finds tasks by status, oldest first, up to a limit', async () => {
      const made: string[] = [];
      for (let i = 0; i < 4; i++)
        made.push((await store.create(make({ status: 'running', labels: { n: String(i) } }))).task.id);
      const found = (await store.findByStatus(['running'], 1000)).map((t) => t.id).filter((id) => made.includes(id));
      expect(found).to.deep.equal(made);
      expect(await store.findByStatus(['running'], 2)).to.have.length(2);
    });

    it('deleteFinished (when offered) deletes finished tasks by age and by count, with their events and keys', async function () {
      if (!store.deleteFinished) return this.skip();
      const finished = (status: 'succeeded' | 'failed', finishedAt: string, idempotencyKey?: string) =>
        store.create(make({ status, finishedAt, idempotencyKey })).then((r) => r.task);
      const key = `retention-${run.contractRun}`;
      const ancient = await finished('succeeded', '2001-01-01T00:00:00.000Z', key);
      await store.appendEvent(ancient.id, 'status', { status: 'succeeded' });
      const recent = await finished('succeeded', new Date().toISOString());
      const ancientFailure = await finished('failed', '2001-01-01T00:00:00.000Z');
      const byAge = await store.deleteFinished({
        status: 'succeeded',
        finishedBefore: '2002-01-01T00:00:00.000Z',
        limit: 1000,
      });
      expect(byAge).to.be.at.least(1);
      expect(await store.get(ancient.id)).to.equal(undefined);
      expect(await store.events(ancient.id, 0, 10)).to.deep.equal([]);
      expect(await store.get(recent.id)).to.deep.include({ status: 'succeeded' });
      expect(await store.get(ancientFailure.id), 'another status is left alone').to.deep.include({ status: 'failed' });
      expect((await store.create(make({ idempotencyKey: key }))).created, 'its idempotency key is free again').to.equal(
        true,
      );

      const newer: string[] = [];
      for (let i = 0; i < 4; i++) newer.push((await finished('succeeded', new Date().toISOString())).id);
      const first = await store.deleteFinished({ status: 'succeeded', keepNewest: 2, limit: 1 });
      expect(first, 'one batch deletes at most limit').to.equal(1);
      await store.deleteFinished({ status: 'succeeded', keepNewest: 2, limit: 1000 });
      const left = (await store.list({ labels: run, status: ['succeeded'] })).tasks.map((t) => t.id);
      expect(left).to.deep.equal([newer[3], newer[2]]);
    });

    it('createWithEvent (when offered) writes a new task with its first event, and nothing for a replayed key', async function () {
      if (!store.createWithEvent) return this.skip();
      const task = make({ idempotencyKey: `key-${run.contractRun}`, requestHash: 'h' });
      const first = await store.createWithEvent(task, { type: 'status', data: { status: 'queued', attempt: 0 } });
      expect(first.created).to.equal(true);
      expect(first.task).to.deep.equal(task);
      expect(first.event).to.deep.include({
        taskId: task.id,
        seq: 1,
        type: 'status',
        data: { status: 'queued', attempt: 0 },
      });
      const replay = await store.createWithEvent(
        { ...make(), idempotencyKey: task.idempotencyKey, requestHash: 'h' },
        { type: 'status', data: { status: 'queued', attempt: 0 } },
      );
      expect(replay).to.deep.equal({ task, created: false });
      expect((await store.events(task.id, 0, 10)).map((e) => e.seq)).to.deep.equal([1]);
      expect((await store.appendEvent(task.id, 'log', {})).seq).to.equal(2);
    });

    it('transitionWithEvent (when offered) writes the change and its event together, or neither', async function () {
      if (!store.transitionWithEvent) return this.skip();
      const { task } = await store.create(make());
      await store.appendEvent(task.id, 'status', { status: 'queued' });
      const moved = await store.transitionWithEvent(task.id, ['queued'], { status: 'running', attempts: 1 }, 0, {
        type: 'status',
        data: { status: 'running', attempt: 1 },
      });
      expect(moved?.task).to.deep.include({ status: 'running', attempts: 1 });
      expect(moved?.event).to.deep.include({
        taskId: task.id,
        seq: 2,
        type: 'status',
        data: { status: 'running', attempt: 1 },
      });
      const refused = await store.transitionWithEvent(task.id, ['queued'], { status: 'cancelled' }, undefined, {
        type: 'status',
        data: { status: 'cancelled' },
      });
      expect(refused).to.equal(undefined);
      const events = await store.events(task.id, 0, 10);
      expect(events.map((e) => (e.type === 'status' ? e.data.status : e.type))).to.deep.equal(['queued', 'running']);
      expect(events[1]).to.deep.equal(moved!.event);
      expect((await store.appendEvent(task.id, 'log', {})).seq).to.equal(3);
      expect(await store.get(task.id)).to.deep.include({ status: 'running' });
    });

    it('transitionWithEvents (when offered) writes the change and its events in order, or nothing', async function () {
      if (!store.transitionWithEvents) return this.skip();
      const { task } = await store.create(make({ status: 'running', attempts: 1 }));
      await store.appendEvent(task.id, 'status', { status: 'running', attempt: 1 });
      const stale = await store.transitionWithEvents(task.id, ['running'], { status: 'succeeded' }, 2, [
        { type: 'final', data: { output: 'stale', step: 1 } },
        { type: 'status', data: { status: 'succeeded', attempt: 2 } },
      ]);
      expect(stale, 'a stale attempt moves nothing and appends nothing').to.equal(undefined);
      const moved = await store.transitionWithEvents(task.id, ['running'], { status: 'succeeded', output: 42 }, 1, [
        { type: 'final', data: { output: 42, step: 1 } },
        { type: 'status', data: { status: 'succeeded', attempt: 1 } },
      ]);
      expect(moved?.task).to.deep.include({ status: 'succeeded', output: 42 });
      expect(moved?.events.map((e) => [e.seq, e.type])).to.deep.equal([
        [2, 'final'],
        [3, 'status'],
      ]);
      const events = await store.events(task.id, 0, 10);
      expect(events.slice(1)).to.deep.equal(moved!.events);
      expect((await store.appendEvent(task.id, 'log', {})).seq).to.equal(4);

      const unstorable = { type: 'log' as const, data: { count: BigInt(1) } };
      const refused = await store
        .transitionWithEvents(task.id, ['succeeded'], { status: 'failed' }, undefined, [unstorable])
        .then(
          () => 'stored',
          () => 'refused',
        );
      expect(refused, 'an event that is not JSON').to.equal('refused');
      expect(await store.get(task.id), 'the move is not kept without its event').to.deep.include({
        status: 'succeeded',
      });
      expect((await store.appendEvent(task.id, 'log', {})).seq, 'and no seq is used up').to.equal(5);
    });

    it('appendEvents (when offered) numbers a batch consecutively, even beside concurrent single appends', async function () {
      if (!store.appendEvents) return this.skip();
      const { task } = await store.create(make());
      const [batch, single] = await Promise.all([
        store.appendEvents(task.id, [
          { type: 'plan', data: { step: 1, calls: [{ id: 'c1', tool: 't__a', arguments: {} }] } },
          { type: 'tool_call', data: { step: 1, id: 'c1', tool: 't__a', arguments: {} } },
        ]),
        store.appendEvent(task.id, 'log', { level: 'info', message: 'beside' }),
      ]);
      const seqs = batch.map((e) => e.seq);
      expect(seqs[1], 'a batch gets consecutive seqs').to.equal(seqs[0]! + 1);
      expect([...seqs, single.seq].sort()).to.deep.equal([1, 2, 3]);
      const stored = await store.events(task.id, 0, 10);
      expect(stored.filter((e) => e.type !== 'log')).to.deep.equal(batch);
      const error = await store.appendEvents(newTaskId(), [{ type: 'log', data: {} }]).then(
        () => undefined,
        (e: { code?: string }) => e,
      );
      expect(error?.code, 'a task that does not exist').to.equal('OPSPAWN_TASK_NOT_FOUND');

      const partly = await store
        .appendEvents(task.id, [
          { type: 'log', data: { level: 'info', message: 'fine' } },
          { type: 'log', data: { count: BigInt(1) } },
        ])
        .then(
          () => 'stored',
          () => 'refused',
        );
      expect(partly, 'a batch with an event that is not JSON').to.equal('refused');
      expect(await store.events(task.id, 3, 10), 'none of it is stored').to.deep.equal([]);
      expect((await store.appendEvent(task.id, 'log', {})).seq).to.equal(4);
    });

    it("foreignWrites (when offered) stays the same across the store's own writes and reads", async function () {
      if (!store.foreignWrites) return this.skip();
      const before = store.foreignWrites();
      const { task } = await store.create(make());
      await store.appendEvent(task.id, 'log', { level: 'info', message: 'own write' });
      await store.transition(task.id, ['queued'], { status: 'running', attempts: 1 });
      await store.events(task.id, 0, 10);
      expect(store.foreignWrites(), 'watchers would re-read after every write of their own process').to.equal(before);
    });
  });
}
