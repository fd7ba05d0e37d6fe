import { expect } from 'chai';
import pg from 'pg';
import { bootKernel, createLogger, type Kernel } from '@opspawn/core';
import { extensionPoints, services, type OpspawnConfig, type Task } from '@opspawn/plugin-sdk';
import { deleteRedisKeys } from '../../helpers/cluster.js';
import { dropSchema, POSTGRES_URL, REDIS_URL, requireService } from '../../helpers/services.js';
import { until } from '../../helpers/until.js';

const SCHEMA = `opspawn_payload_${process.pid}`;
const QUEUE = `payload-${process.pid}`;
const noop = { plan: [], final: 'done' };

/**
 * A bee-queue job carries the queued task's attempt and notBefore, so a worker starts a due first delivery without
 * reading the task back. The job is a copy made at enqueue; the store stays the truth: the start is a compare-and-set
 * on (queued, attempt), and what the started row says (a cancel asked meanwhile) is what the worker acts on.
 */
describe('tasks started from their bee-queue job (needs PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  const logger = createLogger({ level: 'silent', pretty: false, destination: process.stderr });
  const config: OpspawnConfig = {
    plugins: [
      { use: '@opspawn/store-postgres', options: { connectionString: POSTGRES_URL, schema: SCHEMA, poolSize: 4 } },
      { use: '@opspawn/broker-bee-queue', options: { url: REDIS_URL, queue: QUEUE } },
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
    ],
  };
  let api: Kernel;
  let worker: Kernel | undefined;
  let db: pg.Client;

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    api = (await bootKernel({ config, logger, role: 'api' })).kernel;
    db = new pg.Client({ connectionString: POSTGRES_URL });
    await db.connect();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  after(async () => {
    await api?.stop();
    await db?.end();
    await deleteRedisKeys(`bq:${QUEUE}*`);
    await dropSchema(SCHEMA);
  });

  const tasks = () => api.get(services.taskService);
  const startWorker = async () => {
    worker = (await bootKernel({ config, logger, role: 'worker' })).kernel;
  };
  /** Until the worker has taken every job (none waiting or running). */
  const drained = () =>
    until('the queue to drain', async () => {
      const health = await api.get(extensionPoints.broker).health!();
      return /waiting 0, active 0/.test(health.detail ?? '') ? true : undefined;
    });
  const settled = (id: string) =>
    until(`task ${id} to end`, async () => {
      const task = await tasks().get(id);
      return ['succeeded', 'failed', 'cancelled'].includes(task.status) ? task : undefined;
    });
  const statuses = async (id: string) =>
    (await tasks().events(id)).filter((e) => e.type === 'status').map((e) => e.data.status);

  it('runs a task from its job: queued, running, succeeded, with its answer', async () => {
    const { task } = await tasks().submit({ goal: 'from the job', input: noop });
    await startWorker();
    const done = await settled(task.id);
    expect(done).to.include({ status: 'succeeded', output: 'done', attempts: 1 });
    expect(await statuses(task.id)).to.deep.equal(['queued', 'running', 'succeeded']);
  });

  it('leaves a task cancelled while queued alone when its job comes: it never runs', async () => {
    const { task } = await tasks().submit({ goal: 'cancelled before a worker came', input: noop });
    await tasks().cancel(task.id);
    await startWorker();
    await drained();
    const after = await tasks().get(task.id);
    expect(after).to.include({ status: 'cancelled', attempts: 0 });
    expect(await statuses(task.id)).to.deep.equal(['queued', 'cancelled']);
  });

  it('honours a cancel the store recorded after the job was made, though the job says nothing of it', async () => {
    const { task } = await tasks().submit({ goal: 'cancel asked after enqueue', input: noop });
    // What a cancel racing a retry leaves behind: a queued row asked to cancel (the job was made before).
    await db.query(`UPDATE ${SCHEMA}.opspawn_tasks SET cancel_requested = true WHERE id = $1`, [task.id]);
    await startWorker();
    const done = await settled(task.id);
    expect(done.status).to.equal('cancelled');
    expect(done.output).to.equal(undefined);
    expect((await tasks().events(task.id)).map((e) => e.type)).to.not.include('final');
  });

  it('never lets a stale job start a task the store says is not queued on that attempt', async () => {
    const { task } = await tasks().submit({ goal: 'runs once', input: noop });
    await startWorker();
    const done = await settled(task.id);
    const eventsBefore = await tasks().events(task.id);
    // The same job again (attempt 0, due now), as a lost acknowledgement or a recovery sweep could make it.
    await api.get(extensionPoints.broker).enqueue(task.id, { priority: 0, attempts: 0, notBefore: null });
    await drained();
    const again: Task = await tasks().get(task.id);
    expect(again).to.deep.include({ status: 'succeeded', attempts: done.attempts, finishedAt: done.finishedAt });
    expect(await tasks().events(task.id)).to.deep.equal(eventsBefore);
  });

  it('waits for a task the store says is not due, though its stale job says it is', async () => {
    const { task } = await tasks().submit({ goal: 'due later', input: noop });
    // The store moved on after the job was made: attempt 1 failed and the retry is due in an hour.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    await db.query(`UPDATE ${SCHEMA}.opspawn_tasks SET attempts = 1, not_before = $2 WHERE id = $1`, [task.id, later]);
    await startWorker();
    await until('the stale job to be put back, delayed', async () => {
      const depth = await api.get(extensionPoints.broker).depth!();
      return depth.some((d) => d.delayed > 0) ? true : undefined;
    });
    expect(await tasks().get(task.id)).to.include({ status: 'queued', attempts: 1 });
    expect(await statuses(task.id)).to.deep.equal(['queued']);
  });
});
