import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import redis from 'redis';
import { BeeQueueBroker, BEE_QUEUE_BROKER_DEFAULTS, type BeeQueueBrokerOptions } from '@opspawn/broker-bee-queue';
import { ErrorCodes, type OpspawnError } from '@opspawn/plugin-sdk';
import { HostProcess } from '../../helpers/cluster.js';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { silentLogger as silent } from '../../helpers/silent-logger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** Sends one command to the test's own Redis, as an operator (or a fault) would. */
async function redisCommand(url: string, command: string, ...args: string[]): Promise<void> {
  const client = redis.createClient(url);
  await new Promise((resolve, reject) => client.send_command(command, args, (e) => (e ? reject(e) : resolve(0))));
  await new Promise((resolve) => client.quit(resolve));
}

describe('broker-bee-queue when its Redis fails (a redis-server of the test’s own)', function () {
  this.timeout(60_000);
  let server: PrivateRedis;
  const opened: BeeQueueBroker[] = [];
  let queues = 0;
  const queueName = () => `restart-${process.pid}-${++queues}`;

  const open = async (queue: string, options: Partial<BeeQueueBrokerOptions> = {}) => {
    // Without a fast refusal an enqueue would wait this long, far past the test's timeout.
    const broker = await BeeQueueBroker.open(
      { ...BEE_QUEUE_BROKER_DEFAULTS, url: server.url, queue, enqueueTimeoutMs: 600_000, ...options },
      silent,
    );
    opened.push(broker);
    return broker;
  };

  beforeEach(async () => {
    server = await PrivateRedis.start();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((broker) => broker.close()));
    await server.stop();
  });

  it('refuses enqueues at once while Redis is down, says when it is back, and takes them again; jobs from before are gone', async () => {
    const queue = queueName();
    const api = await open(queue);
    const worker = await open(queue);
    const delivered: string[] = [];
    await worker.consume(async (d) => void delivered.push(d.taskId), { concurrency: 4 });
    await api.enqueue('before-restart', { priority: 0, delayMs: 60_000, attempts: 0 });
    expect((await api.health()).detail).to.equal('waiting 0, active 0, delayed 1');
    let reconnects = 0;
    const unsubscribe = api.onReconnect(() => reconnects++);

    await server.kill();
    for (const deadline = Date.now() + 10_000; (await api.health()).state !== 'down'; await sleep(10))
      if (Date.now() > deadline) throw new Error('the broker never reported Redis down');
    const refused = await api.enqueue('during-outage', { priority: 0 }).then(
      () => undefined,
      (error: OpspawnError) => error,
    );
    expect(refused?.code).to.equal(ErrorCodes.BROKER_UNAVAILABLE);
    expect(refused?.hint).to.match(/stays queued in the store/);
    expect(reconnects).to.equal(0);

    await server.startAgain();
    await eventually('the broker says it reconnected', () => reconnects === 1);
    await api.enqueue('after-restart', { priority: 0, attempts: 0 });
    await eventually('the job enqueued after the restart was delivered', () => delivered.length === 1);
    expect(delivered).to.deep.equal(['after-restart']);
    expect((await api.health()).detail).to.equal('waiting 0, active 0, delayed 0');

    unsubscribe();
    let laterReconnects = 0;
    api.onReconnect(() => laterReconnects++);
    await server.restart(100);
    await eventually('the broker says it reconnected again', () => laterReconnects === 1);
    expect(reconnects, 'an unsubscribed listener').to.equal(1);
  });

  it('refuses an enqueue Redis cannot store with BROKER_UNAVAILABLE, naming what Redis said', async () => {
    const api = await open(queueName());
    await redisCommand(server.url, 'CONFIG', 'SET', 'maxmemory', '1');
    const refused = await api.enqueue('no-room', { priority: 0, attempts: 0 }).then(
      () => undefined,
      (error: OpspawnError) => error,
    );
    expect(refused?.code).to.equal(ErrorCodes.BROKER_UNAVAILABLE);
    expect(refused?.message).to.match(/refused task no-room: .*OOM/);
    expect(refused?.hint).to.match(/stays queued in the store/);
  });

  it('loads its Lua scripts again when Redis lost them, for enqueues and for workers', async () => {
    const queue = queueName();
    const api = await open(queue);
    const worker = await open(queue, { stallIntervalMs: 500 });
    const delivered: string[] = [];
    await worker.consume(async (d) => void delivered.push(d.taskId), { concurrency: 2 });
    await api.enqueue('first', { priority: 0, attempts: 0 });
    await eventually('the first job was delivered', () => delivered.length === 1);

    await redisCommand(server.url, 'SCRIPT', 'FLUSH');
    await api.enqueue('after-flush', { priority: 0, attempts: 0 });
    await api.enqueue('delayed-after-flush', { priority: 1, delayMs: 200, attempts: 0 });
    await eventually(`both jobs enqueued after the flush were delivered (${delivered})`, () => delivered.length === 3);
    expect(delivered.slice(1).sort()).to.deep.equal(['after-flush', 'delayed-after-flush']);
  });

  it('lets a worker process exit after SIGTERM when Redis restarted under its load', async () => {
    const queue = queueName();
    const api = await open(queue);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/busy-worker.ts', import.meta.url)), server.url, queue],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const worker = new HostProcess('busy worker', child);
    const ran = (prefix: string) => worker.output.split('\n').filter((line) => line.startsWith(`ran ${prefix}`)).length;
    try {
      await worker.waitFor(/consuming/);
      // A burst the worker has just finished: each of its 32 slots is fetching the next job when Redis goes away.
      for (let i = 0; i < 320; i++) await api.enqueue(`before-${i}`, { priority: 0 });
      await eventually('the worker ran the burst', () => ran('before-') === 320);
      let reconnected = false;
      api.onReconnect(() => (reconnected = true));
      await server.restart(3000);
      await eventually('the submitter reconnected', () => reconnected);
      for (let i = 0; i < 100; i++) await api.enqueue(`after-${i}`, { priority: 0 });
      await eventually('the worker ran the jobs enqueued after the restart', () => ran('after-') === 100);

      child.kill('SIGTERM');
      await worker.waitFor(/stopped/);
      // The drain may take its 5 s, closing another 2 s; the process must then end by itself.
      const exit = await Promise.race([worker.exited, sleep(20_000).then(() => 'still running 20 s after SIGTERM')]);
      const log = worker.output.split('\n').filter((line) => !line.startsWith('ran '));
      expect(exit, log.join('\n')).to.deep.equal({ code: 0, signal: null });
      expect(worker.output).to.not.match(/TimeoutOverflowWarning/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
