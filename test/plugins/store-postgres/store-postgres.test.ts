import pg from 'pg';
import { sampleTask, scheduleStoreContract, storeContract, startTestKernel } from '@opspawn/testing';
import { services, type TaskChange } from '@opspawn/plugin-sdk';
import { PostgresTaskStore } from '@opspawn/store-postgres';
import { expect } from 'chai';
import { dropSchema, POSTGRES_URL, requireService } from '../../helpers/services.js';

const SCHEMA = `opspawn_test_${process.pid}`;
const queuedEvent = { type: 'status' as const, data: { status: 'queued', attempt: 0 } };
const runningEvent = { type: 'status' as const, data: { status: 'running', attempt: 1 } };

/** A store on the test database, in `schema`, with the timeouts every case here uses. */
function openStore(poolSize: number, schema: string): Promise<PostgresTaskStore> {
  return PostgresTaskStore.open({
    connectionString: POSTGRES_URL,
    poolSize,
    schema,
    statementTimeoutMs: 10_000,
    connectTimeoutMs: 5000,
  });
}

describe('store-postgres (needs PostgreSQL)', function () {
  before(async function () {
    await requireService(this, 'postgres');
  });
  after(() => dropSchema(SCHEMA));

  storeContract('store-postgres', async () => {
    const store = await openStore(8, SCHEMA);
    return { store, cleanup: () => store.close() };
  });

  scheduleStoreContract('store-postgres', async () => {
    const store = await openStore(8, SCHEMA);
    return { schedules: store.schedules, cleanup: () => store.close() };
  });

  it('migrates once when many processes open the same database together', async () => {
    const schema = `${SCHEMA}_race`;
    const stores = await Promise.all(Array.from({ length: 5 }, () => openStore(2, schema)));
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    const { rows } = await client.query(`SELECT version FROM ${schema}.opspawn_schema_migrations ORDER BY version`);
    expect(
      rows.map((r) => r.version),
      'each migration applied once',
    ).to.deep.equal([1, 2, 3, 4, 5]);
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    await Promise.all(stores.map((s) => s.close()));
  });

  it('runs tasks end to end as the active store of a kernel', async () => {
    const kernel = await startTestKernel({
      plugins: [
        { use: '@opspawn/store-postgres', options: { connectionString: POSTGRES_URL, schema: SCHEMA } },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
      ],
    });
    const tasks = kernel.get(services.taskService);
    const { task } = await tasks.submit({ goal: 'pg', input: { plan: [], final: { ok: true } } });
    for await (const e of tasks.watch(task.id)) void e;
    expect((await tasks.get(task.id)).output).to.deep.equal({ ok: true });
    const report = await kernel.get(services.health).report();
    expect(report.checks['store-postgres:store']!.state).to.equal('ok');
    await kernel.stop();
  });

  it('keeps each task its own seqs when moves and appends of many tasks share one statement, and fails a bad one alone', async () => {
    const store = await openStore(2, SCHEMA);
    try {
      const tasks = await Promise.all(
        Array.from(
          { length: 6 },
          async () => (await store.create(sampleTask({ status: 'running', attempts: 1 }))).task,
        ),
      );
      // Each Promise.all in one turn of the event loop: one statement for the appends, then one for the moves.
      const [appended, badAppend] = await Promise.all([
        Promise.all(
          tasks.map((t) => store.appendEvents(t.id, [{ type: 'log', data: { level: 'info', message: 'a' } }])),
        ),
        store.appendEvents(tasks[5]!.id, [{ type: 'log', data: { count: BigInt(2) } }]).then(
          () => 'stored',
          () => 'refused',
        ),
      ]);
      const [moved, badMove] = await Promise.all([
        Promise.all(
          tasks.slice(0, 5).map((t, i) =>
            store.transitionWithEvents(t.id, ['running'], { status: 'succeeded', output: i }, 1, [
              { type: 'final', data: { output: i, step: 1 } },
              { type: 'status', data: { status: 'succeeded', attempt: 1 } },
            ]),
          ),
        ),
        store
          .transitionWithEvents(tasks[5]!.id, ['running'], { status: 'failed' }, 1, [
            { type: 'log', data: { count: BigInt(1) } },
          ])
          .then(
            () => 'stored',
            () => 'refused',
          ),
      ]);
      expect([badMove, badAppend]).to.deep.equal(['refused', 'refused']);
      expect(appended.map((events) => events.map((e) => e.seq))).to.deep.equal(tasks.map(() => [1]));
      expect(moved.map((m) => m?.events.map((e) => [e.seq, e.type]))).to.deep.equal(
        tasks.slice(0, 5).map(() => [
          [2, 'final'],
          [3, 'status'],
        ]),
      );
      for (const [i, task] of tasks.slice(0, 5).entries()) {
        expect(await store.get(task.id)).to.deep.include({ status: 'succeeded', output: i });
        expect(await store.events(task.id, 0, 10)).to.deep.equal([...appended[i]!, ...moved[i]!.events]);
      }
      expect(await store.get(tasks[5]!.id), 'the refused move left its task alone').to.deep.include({
        status: 'running',
      });
      expect((await store.appendEvent(tasks[5]!.id, 'log', {})).seq).to.equal(2);
    } finally {
      await store.close();
    }
  });

  it('sets and clears every field of a change in a move with events as a plain transition does', async () => {
    const store = await openStore(2, SCHEMA);
    try {
      const changes: TaskChange[] = [
        {
          status: 'running',
          attempts: 1,
          startedAt: '2026-11-30T10:00:00.000Z',
          leaseExpiresAt: '2026-11-30T10:01:00.000Z',
          cancelRequested: true,
          usage: { inputTokens: 3, outputTokens: 4 },
        },
        {
          status: 'queued',
          error: { code: 'OPSPAWN_TOOL_FAILED', message: 'retry' },
          notBefore: '2026-11-30T10:02:00.000Z',
          leaseExpiresAt: null,
          cancelRequested: false,
        },
        { status: 'running', attempts: 2, error: null, notBefore: null },
        { status: 'succeeded', output: { answer: [1, 'two', null] }, finishedAt: '2026-11-30T10:03:00.000Z' },
      ];
      const plain = (await store.create(sampleTask())).task;
      const withEvents = (await store.create(sampleTask())).task;
      for (const change of changes) {
        const expected = await store.transition(plain.id, [plain.status, 'queued', 'running'], change);
        const moved = await store.transitionWithEvents(withEvents.id, ['queued', 'running'], change, undefined, [
          { type: 'log', data: { level: 'info', message: change.status } },
        ]);
        const { id, goal, sessionId, labels, createdAt, updatedAt, ...rest } = expected!;
        expect(moved?.task).to.deep.include(rest);
        expect(await store.get(withEvents.id)).to.deep.equal(moved?.task);
        expect(Object.keys(moved!.task).sort(), change.status).to.deep.equal(Object.keys(expected!).sort());
      }
    } finally {
      await store.close();
    }
  });

  it('keeps working when a migration adds a column while it runs (its prepared statements name their columns)', async () => {
    const schema = `${SCHEMA}_upgrade`;
    const store = await openStore(1, schema);
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const queued = { type: 'status' as const, data: { status: 'queued', attempt: 0 } };
      const running = { type: 'status' as const, data: { status: 'running', attempt: 1 } };
      const first = await store.createWithEvent(sampleTask(), queued);
      await store.transitionWithEvents(first.task.id, ['queued'], { status: 'running', attempts: 1 }, 0, [running]);
      await store.appendEvents(first.task.id, [{ type: 'log', data: { level: 'info', message: 'before' } }]);
      await store.get(first.task.id);
      await client.query(`ALTER TABLE ${schema}.opspawn_tasks ADD COLUMN a_later_version text`);
      const second = await store.createWithEvent(sampleTask(), queued);
      expect(second.created).to.equal(true);
      const moved = await store.transitionWithEvents(
        second.task.id,
        ['queued'],
        { status: 'running', attempts: 1 },
        0,
        [running],
      );
      expect(moved?.task.status).to.equal('running');
      expect(
        await store.appendEvents(first.task.id, [{ type: 'log', data: { level: 'info', message: 'after' } }]),
      ).to.have.length(1);
      expect(await store.get(second.task.id)).to.deep.equal(moved?.task);
    } finally {
      await store.close();
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    }
  });

  it('resolves every write as its compare-and-set says when two processes write the same tasks in opposite orders', async function () {
    this.timeout(120_000);
    const schema = `${SCHEMA}_deadlock`;
    const [a, b] = await Promise.all([openStore(2, schema), openStore(2, schema)]);
    try {
      const ids = (
        await Promise.all(Array.from({ length: 40 }, () => a.createWithEvent(sampleTask(), queuedEvent)))
      ).map((created) => created.task.id);
      const reversed = [...ids].reverse();
      const stored = new Map(ids.map((id) => [id, { events: 1, starts: 0, requeues: 0 }]));
      const refused: unknown[] = [];
      // Each loop writes every task in one statement per turn, again as soon as the last one is answered, so the
      // two stores' statements overlap with different snapshots of the table and lock rows in different orders.
      const loop = async (
        write: (id: string) => Promise<'start' | 'requeue' | 'append' | undefined>,
        order: string[],
      ) => {
        for (let turn = 0; turn < 100; turn++) {
          const outcomes = await Promise.allSettled(order.map((id) => write(id)));
          for (const [i, outcome] of outcomes.entries()) {
            if (outcome.status === 'rejected') {
              refused.push(outcome.reason);
              continue;
            }
            const counts = stored.get(order[i]!)!;
            if (outcome.value) counts.events++;
            if (outcome.value === 'start') counts.starts++;
            if (outcome.value === 'requeue') counts.requeues++;
          }
        }
      };
      const append = (store: PostgresTaskStore) => async (id: string) => {
        await store.appendEvents(id, [{ type: 'log', data: { level: 'info', message: 'step' } }]);
        return 'append' as const;
      };
      const start = async (id: string) =>
        (await a.transitionWithEvent(id, ['queued'], { status: 'running' }, undefined, runningEvent)) &&
        ('start' as const);
      const requeue = async (id: string) =>
        (await b.transitionWithEvent(id, ['running'], { status: 'queued' }, undefined, queuedEvent)) &&
        ('requeue' as const);
      await Promise.all([
        loop(append(a), ids),
        loop(append(a), reversed),
        loop(append(b), ids),
        loop(append(b), reversed),
        loop(start, ids),
        loop(requeue, reversed),
      ]);
      expect(refused.map(String), 'no write refused (a deadlock used to refuse a whole statement)').to.deep.equal([]);
      for (const id of ids) {
        const { events, starts, requeues } = stored.get(id)!;
        expect(starts - requeues, 'each move applied only from the status it expected').to.be.oneOf([0, 1]);
        expect((await a.get(id))?.status).to.equal(starts > requeues ? 'running' : 'queued');
        expect(
          (await a.events(id, 0, 1000)).map((e) => e.seq),
          'every answered write stored once, seqs without gaps',
        ).to.deep.equal(Array.from({ length: events }, (_, i) => i + 1));
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropSchema(schema);
    }
  });

  it('says where it could not connect, without the password', async () => {
    const error = await PostgresTaskStore.open({
      connectionString: 'postgres://me:secret@127.0.0.1:1/none',
      poolSize: 1,
      schema: 'public',
      statementTimeoutMs: 1000,
      connectTimeoutMs: 1000,
    }).catch((e: Error) => e);
    expect(String(error)).to.match(
      /OPSPAWN_PLUGIN_START_FAILED: cannot use PostgreSQL at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/none/,
    );
    expect(String(error)).not.to.contain('secret');
  });
});
