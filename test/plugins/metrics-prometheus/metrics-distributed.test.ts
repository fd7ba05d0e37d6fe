import { join } from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { bootKernel, createLogger, type Kernel } from '@opspawn/core';
import { extensionPoints, services, type OpspawnConfig } from '@opspawn/plugin-sdk';
import { deleteRedisKeys } from '../../helpers/cluster.js';
import { REPO } from '../../helpers/deployment.js';
import { Exposition } from '../../helpers/prometheus-text.js';
import { freePort, POSTGRES_URL, REDIS_URL, requireService } from '../../helpers/services.js';

const SCHEMA = `opspawn_metrics_${process.pid}`;
const QUEUE = `metrics-${process.pid}`;
const KEYS = { api: 'api-reader-key', worker: 'worker-scrape-key' };

/**
 * An API process and a worker process of one distributed deployment (PostgreSQL + bee-queue over Redis), booted in
 * this test process as `opspawn start --role api` and `opspawn worker` boot them: each exposes its own metrics, the
 * API on its REST port, the worker (no REST) on a port of its own, and each counts only what it did.
 */
describe('metrics-prometheus in a distributed deployment (needs PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let api: Kernel;
  let worker: Kernel;
  let workerPort: number;

  const config = (port: number): OpspawnConfig => ({
    plugins: [
      { use: '@opspawn/store-postgres', options: { connectionString: POSTGRES_URL, schema: SCHEMA, poolSize: 4 } },
      { use: '@opspawn/broker-bee-queue', options: { url: REDIS_URL, queue: QUEUE } },
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
      { use: '@opspawn/tools-quickjs', options: { dirs: [join(REPO, 'config/tools')], watch: false } },
      {
        use: '@opspawn/transport-rest',
        options: { port: 0, apiKeys: [{ key: KEYS.api, name: 'prometheus', scopes: ['read'] }] },
      },
      {
        use: '@opspawn/metrics-prometheus',
        options: { port, apiKeys: [{ key: KEYS.worker, name: 'prometheus', scopes: ['read'] }] },
      },
    ],
    agents: { calc: { tools: ['js__calculate'] } },
  });

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    workerPort = await freePort();
    const logger = createLogger({ level: 'silent', pretty: false, destination: process.stderr });
    api = (await bootKernel({ config: config(workerPort), logger, role: 'api' })).kernel;
    worker = (await bootKernel({ config: config(workerPort), logger, role: 'worker' })).kernel;
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
    await deleteRedisKeys(`bq:${QUEUE}*`);
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client
      .connect()
      .then(() => client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`))
      .catch(() => undefined);
    await client.end().catch(() => undefined);
  });

  const scrape = async (url: string, key: string) => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).to.equal(200);
    return Exposition.parse(await response.text());
  };

  it('serves the API’s metrics on its REST port and the worker’s on its own port, each counting its own work once', async () => {
    const restUrl = `${api.get(extensionPoints.transport)[0]!.value.addresses()[0]}/metrics`;
    const workerUrl = `http://127.0.0.1:${workerPort}/metrics`;
    expect(worker.get(extensionPoints.transport), 'the worker runs no transport').to.deep.equal([]);

    const tasks = api.get(services.taskService);
    const ids: string[] = [];
    for (const expression of ['1 + 2', '3 * 4', '2 ^ 8']) {
      const { task } = await tasks.submit({
        goal: 'calculate',
        agent: 'calc',
        input: { plan: [{ tool: 'js__calculate', arguments: { expression } }], final: 'done' },
      });
      ids.push(task.id);
    }
    for (const id of ids) for await (const _ of tasks.watch(id));
    expect((await Promise.all(ids.map((id) => tasks.get(id)))).map((t) => t.status)).to.deep.equal([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);

    const fromApi = await scrape(restUrl, KEYS.api);
    const fromWorker = await scrape(workerUrl, KEYS.worker);
    // Submitted where submitted, run and finished where run: the relayed events are not counted again.
    expect(fromApi.value('opspawn_tasks_submitted_total', { agent: 'calc' })).to.equal(3);
    expect(fromWorker.value('opspawn_tasks_submitted_total', { agent: 'calc' })).to.equal(0);
    expect(fromWorker.value('opspawn_tasks_finished_total', { agent: 'calc', status: 'succeeded' })).to.equal(3);
    expect(fromApi.value('opspawn_tasks_finished_total', { agent: 'calc', status: 'succeeded' })).to.equal(0);
    expect(fromWorker.value('opspawn_tool_calls_total', { tool: 'js__calculate', outcome: 'ok' })).to.equal(3);
    expect(fromApi.value('opspawn_tool_calls_total', { tool: 'js__calculate', outcome: 'ok' })).to.equal(0);
    // The worker times the wait from the task's creation (the queued event was appended by the API).
    expect(fromWorker.histogram('opspawn_task_queue_wait_seconds', { agent: 'calc' }).count).to.equal(3);
    expect(
      fromWorker.histogram('opspawn_task_duration_seconds', { agent: 'calc', status: 'succeeded' }).count,
    ).to.equal(3);
    expect(fromWorker.value('opspawn_tasks_in_flight')).to.equal(0);
    // Each process lists its own plugins: the worker's REST transport is inactive, so it is left out.
    expect(fromApi.value('opspawn_plugin_up', { plugin: 'transport-rest', status: 'started' })).to.equal(1);
    expect(fromWorker.series('opspawn_plugin_up').map((s) => s.labels.plugin)).to.not.include('transport-rest');
    expect(fromWorker.value('opspawn_plugin_up', { plugin: 'broker-bee-queue', status: 'started' })).to.equal(1);
  });

  it('shows the depth of the shared bee-queue queue, per priority level, in every process', async () => {
    const tasks = api.get(services.taskService);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    for (let i = 0; i < 2; i++)
      await tasks.submit({
        goal: 'later',
        agent: 'calc',
        input: { plan: [], final: 'x' },
        notBefore: later,
        priority: 5,
      });
    const restUrl = `${api.get(extensionPoints.transport)[0]!.value.addresses()[0]}/metrics`;
    const fromApi = await scrape(restUrl, KEYS.api);
    const fromWorker = await scrape(`http://127.0.0.1:${workerPort}/metrics`, KEYS.worker);
    // Priority 5 is queued at bee-queue's highest level, 1; both processes see the one queue.
    expect(fromApi.value('opspawn_queue_depth', { priority: '1', state: 'delayed' })).to.equal(2);
    expect(fromWorker.value('opspawn_queue_depth', { priority: '1', state: 'delayed' })).to.equal(2);
  });

  it('refuses the worker’s metrics port without its key (401 problem) and with an unknown one', async () => {
    const url = `http://127.0.0.1:${workerPort}/metrics`;
    const none = await fetch(url);
    expect(none.status).to.equal(401);
    expect(none.headers.get('content-type')).to.equal('application/problem+json');
    expect(await none.json()).to.include({ code: 'OPSPAWN_UNAUTHENTICATED', status: 401 });
    expect((await fetch(url, { headers: { authorization: `Bearer ${KEYS.api}` } })).status).to.equal(401);
    const elsewhere = await fetch(`http://127.0.0.1:${workerPort}/v1/tasks`);
    expect(elsewhere.status).to.equal(404);
  });
});
