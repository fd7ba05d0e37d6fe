import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { extensionPoints, MAX_BATCH_TASKS } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { deleteRedisKeys } from '../../helpers/cluster.js';
import { dropSchema, POSTGRES_URL, REDIS_URL, requireService } from '../../helpers/services.js';
import { until } from '../../helpers/until.js';
import { loadGrpcService } from '../../helpers/grpc-service.js';

const SCHEMA = `opspawn_batch_${process.pid}`;
const QUEUE = `batch-${process.pid}`;
const KEY = 'batch-submit-key';
const noop = { plan: [], final: 'done' };

/**
 * `POST /v1/tasks/batch` and gRPC SubmitBatch on the distributed stack (PostgreSQL, bee-queue over Redis): a batch
 * is checked whole before anything is written, then written together; each idempotency key keeps its meaning.
 */
describe('batch submit over REST and gRPC (needs PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let kernel: TestKernel;
  let rest: string;
  let grpcAddress: string;
  let run = 0;
  /** A fresh label value per test, so each counts only its own tasks. */
  let label: string;

  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(rest + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, json: (await response.json()) as any };
  }

  async function stored(): Promise<any[]> {
    const response = await fetch(`${rest}/v1/tasks?label=run=${label}&limit=500`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    return ((await response.json()) as any).tasks;
  }

  /** The test's tasks once `count` of them have succeeded. */
  const succeeded = (count: number) =>
    until(`${count} tasks of ${label} succeeded`, async () => {
      const tasks = await stored();
      return tasks.filter((t) => t.status === 'succeeded').length === count ? tasks : undefined;
    });

  const task = (goal: string, extra: Record<string, unknown> = {}) => ({
    goal,
    input: noop,
    labels: { run: label },
    ...extra,
  });

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    kernel = await startTestKernel({
      plugins: [
        { use: '@opspawn/store-postgres', options: { connectionString: POSTGRES_URL, schema: SCHEMA, poolSize: 4 } },
        { use: '@opspawn/broker-bee-queue', options: { url: REDIS_URL, queue: QUEUE } },
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        {
          use: '@opspawn/transport-rest',
          options: { port: 0, apiKeys: [{ key: KEY, name: 'ops', scopes: ['admin'] }] },
        },
        {
          use: '@opspawn/transport-grpc',
          options: { port: 0, apiKeys: [{ key: KEY, name: 'ops', scopes: ['admin'] }] },
        },
      ],
    });
    const transports = kernel.get(extensionPoints.transport).map((t) => t.value);
    rest = transports.find((t) => t.protocol === 'http')!.addresses()[0]!;
    grpcAddress = transports.find((t) => t.protocol !== 'http')!.addresses()[0]!;
  });
  beforeEach(() => {
    label = `batch-${process.pid}-${++run}`;
  });
  after(async () => {
    await kernel?.stop();
    await deleteRedisKeys(`bq:${QUEUE}*`);
    await dropSchema(SCHEMA);
  });

  describe('REST: POST /v1/tasks/batch', () => {
    it('accepts a batch with 202, answers one result per task in order, and runs every task', async () => {
      const r = await post('/v1/tasks/batch', {
        tasks: [task('first'), task('second'), task('third', { priority: 5 })],
      });
      expect(r.status).to.equal(202);
      expect(r.json.results.map((x: any) => [x.task.goal, x.created])).to.deep.equal([
        ['first', true],
        ['second', true],
        ['third', true],
      ]);
      const done = await succeeded(3);
      expect(done.map((t) => t.output)).to.deep.equal(['done', 'done', 'done']);
    });

    it('refuses a batch with invalid tasks whole, naming each by index, and writes none of it', async () => {
      const r = await post('/v1/tasks/batch', {
        tasks: [task('fine'), { input: noop, labels: { run: label } }, task('bad planner', { planner: 'nope' })],
      });
      expect(r.status).to.equal(400);
      expect(r.json.code).to.equal('OPSPAWN_TASK_INVALID');
      expect(r.json.detail).to.contain('nothing was submitted');
      const paths = r.json.errors.map((e: any) => e.path);
      expect(paths).to.include('tasks[2].planner');
      expect(paths.some((p: string) => p.startsWith('tasks[1]'))).to.equal(true);
      expect(paths.some((p: string) => p.startsWith('tasks[0]'))).to.equal(false);
      expect(await stored()).to.deep.equal([]);
    });

    it(`refuses an empty batch and one of more than ${MAX_BATCH_TASKS} tasks, saying how to split it`, async () => {
      const big = await post('/v1/tasks/batch', {
        tasks: Array.from({ length: MAX_BATCH_TASKS + 1 }, (_, i) => task(`t${i}`)),
      });
      expect(big.status).to.equal(400);
      expect(big.json).to.include({ code: 'OPSPAWN_INVALID_REQUEST' });
      expect(big.json.errors).to.deep.equal([{ path: 'tasks', message: `must hold 1 to ${MAX_BATCH_TASKS} tasks` }]);
      expect(big.json.hint).to.contain('split');
      const empty = await post('/v1/tasks/batch', { tasks: [] });
      expect(empty.status).to.equal(400);
      const shapeless = await post('/v1/tasks/batch', [task('not wrapped')]);
      expect(shapeless.status).to.equal(400);
      const stray = await post('/v1/tasks/batch', { tasks: [task('x')], priority: 3 });
      expect(stray.status).to.equal(400);
      expect(stray.json.errors).to.deep.equal([{ path: 'priority', message: 'is not a known field' }]);
      expect(await stored()).to.deep.equal([]);
    });

    it('refuses two tasks of one batch with the same idempotency key, and writes neither', async () => {
      const key = `dup-${label}`;
      const r = await post('/v1/tasks/batch', {
        tasks: [task('a', { idempotencyKey: key }), task('b'), task('c', { idempotencyKey: key })],
      });
      expect(r.status).to.equal(400);
      expect(r.json.errors).to.deep.equal([{ path: 'tasks[2].idempotencyKey', message: 'same key as tasks[0]' }]);
      expect(await stored()).to.deep.equal([]);
    });

    it('replays a batch sent again with the same keys, and answers a key reused with another request per task', async () => {
      const tasks = [task('one', { idempotencyKey: `one-${label}` }), task('two', { idempotencyKey: `two-${label}` })];
      const first = await post('/v1/tasks/batch', { tasks });
      const again = await post('/v1/tasks/batch', { tasks });
      expect(again.status).to.equal(200);
      expect(again.json.results.map((x: any) => [x.task.id, x.created])).to.deep.equal(
        first.json.results.map((x: any) => [x.task.id, false]),
      );
      const mixed = await post('/v1/tasks/batch', {
        tasks: [task('other goal', { idempotencyKey: `one-${label}` }), task('three')],
      });
      expect(mixed.status).to.equal(202);
      expect(mixed.json.results[0].error).to.include({ code: 'OPSPAWN_IDEMPOTENCY_CONFLICT' });
      expect(mixed.json.results[0].error.message).to.contain(first.json.results[0].task.id);
      expect(mixed.json.results[1]).to.include({ created: true });
      const goals = (await stored()).map((t) => t.goal).sort();
      expect(goals).to.deep.equal(['one', 'three', 'two']);
    });

    it('refuses an Idempotency-Key header on a batch: keys go on each task', async () => {
      const r = await post('/v1/tasks/batch', { tasks: [task('x')] }, { 'idempotency-key': 'whole-batch' });
      expect(r.status).to.equal(400);
      expect(r.json.errors).to.deep.equal([{ path: 'Idempotency-Key', message: 'not accepted on a batch' }]);
      expect(await stored()).to.deep.equal([]);
    });
  });

  describe('gRPC: SubmitBatch', () => {
    function call(method: string, request: object, metadata: Record<string, string> = {}): Promise<any> {
      const TaskService = loadGrpcService('tasks', 'TaskService', { oneofs: true });
      const client = new TaskService(grpcAddress, grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${KEY}`);
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      return new Promise((resolve, reject) =>
        client[method](request, md, (error: grpc.ServiceError | null, response: unknown) => {
          client.close();
          if (error) reject(error);
          else resolve(response);
        }),
      );
    }
    const message = (goal: string, extra: Record<string, unknown> = {}) => ({
      goal,
      inputJson: JSON.stringify(noop),
      labels: { run: label },
      ...extra,
    });

    it('submits a batch, one result per task in order, and runs every task', async () => {
      const r = await call('SubmitBatch', { tasks: [message('g1'), message('g2')] });
      expect(r.results.map((x: any) => [x.result, x.submitted.task.goal, x.submitted.created])).to.deep.equal([
        ['submitted', 'g1', true],
        ['submitted', 'g2', true],
      ]);
      expect(await succeeded(2)).to.have.length(2);
    });

    it('refuses a batch with one invalid task as INVALID_ARGUMENT naming it, and writes none of it', async () => {
      const error = await call('SubmitBatch', { tasks: [message('fine'), message('bad', { priority: 99 })] }).catch(
        (e: grpc.ServiceError) => e,
      );
      expect(error.code).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(error.details).to.contain('tasks[1]');
      const json = await call('SubmitBatch', {
        tasks: [message('fine'), message('bad json', { inputJson: '{' })],
      }).catch((e: grpc.ServiceError) => e);
      expect(json.code).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(json.details).to.contain('tasks[1].input_json');
      expect(await stored()).to.deep.equal([]);
    });

    it('answers a key reused with another request in its own result, and refuses idempotency-key metadata', async () => {
      const first = await call('SubmitBatch', { tasks: [message('same', { idempotencyKey: `g-${label}` })] });
      const r = await call('SubmitBatch', {
        tasks: [message('changed', { idempotencyKey: `g-${label}` }), message('new one')],
      });
      expect(r.results[0].result).to.equal('error');
      expect(r.results[0].error.code).to.equal('OPSPAWN_IDEMPOTENCY_CONFLICT');
      expect(r.results[0].error.message).to.contain(first.results[0].submitted.task.id);
      expect(r.results[1].submitted.created).to.equal(true);
      const refused = await call('SubmitBatch', { tasks: [message('x')] }, { 'idempotency-key': 'k' }).catch(
        (e: grpc.ServiceError) => e,
      );
      expect(refused.code).to.equal(grpc.status.INVALID_ARGUMENT);
      expect((await stored()).map((t) => t.goal).sort()).to.deep.equal(['new one', 'same']);
    });
  });
});
