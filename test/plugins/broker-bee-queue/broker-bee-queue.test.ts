import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import redis from 'redis';
import { BeeQueueBroker, BEE_QUEUE_BROKER_DEFAULTS, type BeeQueueBrokerOptions } from '@opspawn/broker-bee-queue';
import { ErrorCodes, newTaskId, type Delivery, type TaskEvent } from '@opspawn/plugin-sdk';
import { brokerContract } from '@opspawn/plugin-sdk/testing';
import { REDIS_URL, requireService } from '../../helpers/services.js';
import { silentLogger as silent } from '../../helpers/silent-logger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let queues = 0;
const queueName = () => `test-${process.pid}-${++queues}`;

async function eventually(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** Deletes every key of the test queues. */
async function deleteKeys(pattern: string): Promise<void> {
  const client = redis.createClient(REDIS_URL);
  const keys = await new Promise<string[]>((resolve, reject) =>
    client.keys(pattern, (e, k) => (e ? reject(e) : resolve(k))),
  );
  if (keys.length > 0) await new Promise((resolve) => client.del(keys, resolve));
  await new Promise((resolve) => client.quit(resolve));
}

/** Jobs in bee-queue's active lists of the default levels (taken by some worker), counted in one MULTI. */
async function activeJobs(client: redis.RedisClient, queue: string): Promise<number> {
  const lengths = await new Promise<number[]>((resolve, reject) =>
    client
      .multi(['p1', 'p0', 'p-1'].map((level) => ['llen', `bq:${queue}-${level}:active`]))
      .exec((e, replies) => (e ? reject(e) : resolve(replies as number[]))),
  );
  return lengths.reduce((sum, n) => sum + n, 0);
}

/** A handler whose deliveries run until `release()`; `running` lists the tasks it runs now. */
/** A worker in a child process (`fixtures/<name>`) on `queue`; `output()` is what it printed so far. */
function childWorker(name: string, queue: string, ...args: string[]) {
  const script = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, REDIS_URL, queue, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let printed = '';
  child.stdout.on('data', (chunk) => (printed += chunk));
  return { child, output: () => printed };
}

function heldHandler() {
  const running: string[] = [];
  const ran: string[] = [];
  let release!: () => void;
  let released = new Promise<void>((resolve) => (release = resolve));
  return {
    running,
    ran,
    release: () => {
      release();
      released = Promise.resolve();
    },
    handler: async (d: Delivery) => {
      running.push(d.taskId);
      await released;
      running.splice(running.indexOf(d.taskId), 1);
      ran.push(d.taskId);
    },
  };
}

function open(options: Partial<BeeQueueBrokerOptions>): Promise<BeeQueueBroker> {
  return BeeQueueBroker.open(
    { ...BEE_QUEUE_BROKER_DEFAULTS, url: REDIS_URL, stallIntervalMs: 1000, ...options },
    silent,
  );
}

describe('broker-bee-queue (needs Redis)', function () {
  this.timeout(30_000);
  before(async function () {
    await requireService(this, 'redis');
  });
  after(() => deleteKeys(`bq:test-${process.pid}-*`));

  // Four levels so the contract's priorities 10, 5, 0 and -3 each have their own queue.
  brokerContract('broker-bee-queue', async () => {
    const broker = await open({ queue: queueName(), priorityLevels: [10, 5, 0, -3], redeliveryBackoffMs: 10 });
    return { broker, cleanup: () => broker.close() };
  });

  describe('across processes', () => {
    const opened: BeeQueueBroker[] = [];
    const openShared = async (queue: string, options: Partial<BeeQueueBrokerOptions> = {}) => {
      const broker = await open({ queue, ...options });
      opened.push(broker);
      return broker;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('hands the job of a worker killed with SIGKILL to another worker, counting the stall', async () => {
      const queue = queueName();
      const submitter = await openShared(queue);
      const taskId = newTaskId();
      await submitter.enqueue(taskId, { priority: 0, attempts: 0 });
      const { child, output } = childWorker('hung-worker.ts', queue);
      await eventually('the child worker took the job', () => output().includes(`taken ${taskId}`));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const survivor = await openShared(queue, { stallIntervalMs: 500 });
      const deliveries: Delivery[] = [];
      await survivor.consume(
        async (d) => {
          if (d.taskId === taskId) deliveries.push(d);
        },
        { concurrency: 1 },
      );
      await eventually('the survivor got the job', () => deliveries.length === 1);
      expect(deliveries[0]!.stalls).to.equal(1);
      expect(deliveries[0]!.attempts).to.equal(0);
    });

    it('aborts a delivery running in one process when another process cancels the task', async () => {
      const queue = queueName();
      const worker = await openShared(queue);
      const api = await openShared(queue);
      const taskId = newTaskId();
      let signal: AbortSignal | undefined;
      await worker.consume(
        async (d) => {
          if (d.taskId !== taskId) return;
          signal = d.signal;
          await new Promise((resolve) => d.signal.addEventListener('abort', resolve, { once: true }));
        },
        { concurrency: 2 },
      );
      await api.enqueue(taskId, { priority: 0 });
      await eventually('the worker runs the task', () => signal !== undefined);
      await api.cancel(taskId);
      await eventually('the delivery is aborted', () => signal!.aborted);
    });

    it('relays task events to another process in order, and not back to their publisher', async () => {
      const queue = queueName();
      const worker = await openShared(queue);
      const api = await openShared(queue);
      const taskId = newTaskId();
      const seenByApi: number[] = [];
      const seenByWorker: number[] = [];
      const unsubscribe = api.events.subscribe(taskId, (e) => seenByApi.push(e.seq));
      worker.events.subscribe(taskId, (e) => seenByWorker.push(e.seq));
      // SUBSCRIBE is asynchronous: publish a probe (seq 0) until the api process hears it, then the real events.
      const probe = { taskId, seq: 0, type: 'log', data: {}, at: new Date().toISOString() } as TaskEvent;
      while (!seenByApi.includes(0)) {
        worker.events.publish(probe);
        await sleep(20);
      }
      for (let seq = 1; seq <= 200; seq++) {
        worker.events.publish({
          taskId,
          seq,
          type: 'log',
          data: { n: seq },
          at: new Date().toISOString(),
        } as TaskEvent);
      }
      const real = () => seenByApi.filter((seq) => seq > 0);
      await eventually('every event reached the api process', () => real().length === 200);
      expect(real()).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
      // Probes still in flight arrived before the real events: one publisher, one order.
      expect(seenByApi.slice(seenByApi.indexOf(1))).to.deep.equal(real());
      expect(seenByWorker).to.deep.equal([]);
      unsubscribe();
    });

    it('makes (task, attempts) one job: enqueueing it twice delivers it once', async () => {
      const queue = queueName();
      const broker = await openShared(queue);
      const taskId = newTaskId();
      await broker.enqueue(taskId, { priority: 0, attempts: 2 });
      await broker.enqueue(taskId, { priority: 0, attempts: 2 });
      const other = newTaskId();
      await broker.enqueue(other, { priority: 0, attempts: 0 });
      const seen: string[] = [];
      await broker.consume(async (d) => void seen.push(d.taskId), { concurrency: 1 });
      await eventually('both tasks were delivered', () => seen.includes(other) && seen.includes(taskId));
      await sleep(300);
      expect(seen.filter((id) => id === taskId)).to.have.length(1);
    });

    it('puts priorities between levels on the level below: 10 and 1 share the high level of the default levels', async () => {
      const broker = await openShared(queueName());
      const [low, normal, highFirst, highSecond] = [newTaskId(), newTaskId(), newTaskId(), newTaskId()];
      await broker.enqueue(low, { priority: -7 });
      await broker.enqueue(normal, { priority: 0 });
      await broker.enqueue(highFirst, { priority: 1 });
      await broker.enqueue(highSecond, { priority: 10 });
      const order: string[] = [];
      await broker.consume(async (d) => void order.push(d.taskId), { concurrency: 1 });
      await eventually('all four were delivered', () => order.length === 4);
      expect(order).to.deep.equal([highFirst, highSecond, normal, low]);
    });

    it('holds at most concurrency jobs across its three levels while ten times as many wait, counted in Redis', async () => {
      const queue = queueName();
      const broker = await openShared(queue);
      const ids = Array.from({ length: 40 }, () => newTaskId());
      for (const [i, id] of ids.entries()) await broker.enqueue(id, { priority: (i % 3) - 1, attempts: 0 });
      const probe = redis.createClient(REDIS_URL);
      const ran: string[] = [];
      await broker.consume(
        async (d) => {
          await sleep(20);
          ran.push(d.taskId);
        },
        { concurrency: 4 },
      );
      let most = 0;
      while (ran.length < ids.length) {
        most = Math.max(most, await activeJobs(probe, queue));
        await sleep(2);
      }
      await new Promise((resolve) => probe.quit(resolve));
      expect(most).to.equal(4);
      expect([...ran].sort()).to.deep.equal([...ids].sort());
    });

    it('keeps nothing in Redis of jobs that succeeded, many finishing at once: not active, not data, not counted', async () => {
      const queue = queueName();
      const broker = await openShared(queue);
      const ids = Array.from({ length: 60 }, () => newTaskId());
      for (const [i, id] of ids.entries()) await broker.enqueue(id, { priority: (i % 3) - 1, attempts: 0 });
      const ran: string[] = [];
      await broker.consume(async (d) => void ran.push(d.taskId), { concurrency: 16 });
      await eventually('every job ran', () => ran.length === ids.length);
      const probe = redis.createClient(REDIS_URL);
      const left = () =>
        new Promise<number[]>((resolve, reject) =>
          probe
            .multi([
              ...['p1', 'p0', 'p-1'].flatMap((level) => [
                ['llen', `bq:${queue}-${level}:active`],
                ['scard', `bq:${queue}-${level}:stalling`],
                ['hlen', `bq:${queue}-${level}:jobs`],
              ]),
              ['hlen', `bq:${queue}:deliveries`],
            ])
            .exec((e, replies) => (e ? reject(e) : resolve(replies as number[]))),
        );
      // The last finishes may still be on their way to Redis when the last handler returned.
      let counts = await left();
      for (let tries = 0; tries < 100 && counts.some((n) => n > 0); tries++) {
        await sleep(20);
        counts = await left();
      }
      await new Promise((resolve) => probe.quit(resolve));
      expect(counts).to.deep.equal(Array(10).fill(0));
      expect([...ran].sort()).to.deep.equal([...ids].sort());
    });

    it('counts a delivery whose handler rejected as a stall of the next one, and one that resolved not', async () => {
      const queue = queueName();
      const broker = await openShared(queue, { redeliveryBackoffMs: 10 });
      const [failing, fine] = [newTaskId(), newTaskId()];
      await broker.enqueue(failing, { priority: 0, attempts: 0 });
      await broker.enqueue(fine, { priority: 0, attempts: 0 });
      const seen: Delivery[] = [];
      await broker.consume(
        async (d) => {
          seen.push(d);
          if (d.taskId === failing && seen.filter((s) => s.taskId === failing).length === 1) throw new Error('boom');
        },
        { concurrency: 4 },
      );
      await eventually('the failed job came back', () => seen.filter((d) => d.taskId === failing).length === 2);
      // The same job again (same task and attempts): its first delivery finished, so this one is not a stall.
      await broker.enqueue(fine, { priority: 0, attempts: 0 });
      await eventually('the fine task ran twice', () => seen.filter((d) => d.taskId === fine).length === 2);
      expect(seen.filter((d) => d.taskId === failing).map((d) => d.stalls)).to.deep.equal([0, 1]);
      expect(seen.filter((d) => d.taskId === fine).map((d) => d.stalls)).to.deep.equal([0, 0]);
    });

    it('leaves waiting jobs to a worker started later while the first is full', async () => {
      const queue = queueName();
      const first = await openShared(queue);
      const ids = Array.from({ length: 6 }, () => newTaskId());
      for (const [i, id] of ids.entries()) await first.enqueue(id, { priority: (i % 3) - 1, attempts: 0 });
      const busy = heldHandler();
      await first.consume(busy.handler, { concurrency: 2 });
      await eventually('the first worker runs two', () => busy.running.length === 2);
      const second = await openShared(queue);
      const other = heldHandler();
      await second.consume(other.handler, { concurrency: 2 });
      await eventually('the second worker runs two', () => other.running.length === 2);
      // Priority holds across the workers: the first took the two high jobs, the second the two normal ones.
      expect([...busy.running, ...other.running]).to.deep.equal([ids[2], ids[5], ids[1], ids[4]]);
      busy.release();
      other.release();
      await eventually('every job ran', () => busy.ran.length + other.ran.length === 6);
    });

    it("runs a higher level's job enqueued while the worker is full before lower ones already waiting", async () => {
      const broker = await openShared(queueName());
      const [lowFirst, lowSecond, high] = [newTaskId(), newTaskId(), newTaskId()];
      const order: string[] = [];
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      await broker.consume(
        async (d) => {
          order.push(d.taskId);
          if (d.taskId === lowFirst) await released;
        },
        { concurrency: 1 },
      );
      await broker.enqueue(lowFirst, { priority: -1 });
      await eventually('the worker runs the first low job', () => order.length === 1);
      await broker.enqueue(lowSecond, { priority: -1 });
      await broker.enqueue(high, { priority: 1 });
      await sleep(100);
      // The full worker took neither: they wait in Redis, free for any worker with a slot.
      expect((await broker.health()).detail).to.equal('waiting 2, active 1, delayed 0');
      release();
      await eventually('all three ran', () => order.length === 3);
      expect(order).to.deep.equal([lowFirst, high, lowSecond]);
    });

    it('gives back every job a killed worker held, each run once elsewhere, and leaves the rest to others', async () => {
      const queue = queueName();
      const submitter = await openShared(queue);
      const ids = Array.from({ length: 9 }, () => newTaskId());
      for (const [i, id] of ids.entries()) await submitter.enqueue(id, { priority: (i % 3) - 1, attempts: 0 });
      const { child, output } = childWorker('hung-worker.ts', queue, '3');
      await eventually('the child worker took three jobs', () => output().match(/taken/g)?.length === 3);
      const probe = redis.createClient(REDIS_URL);
      await sleep(200);
      const held = await activeJobs(probe, queue);
      await new Promise((resolve) => probe.quit(resolve));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(held, 'jobs the killed worker had taken').to.equal(3);

      const survivor = await openShared(queue, { stallIntervalMs: 500 });
      const deliveries: Delivery[] = [];
      await survivor.consume(async (d) => void deliveries.push(d), { concurrency: 4 });
      await eventually('the survivor ran all nine', () => deliveries.length === 9);
      await sleep(1200);
      expect(deliveries.map((d) => d.taskId).sort()).to.deep.equal([...ids].sort());
      const taken = ids.filter((id) => output().includes(`taken ${id}`));
      expect(
        deliveries
          .filter((d) => d.stalls === 1)
          .map((d) => d.taskId)
          .sort(),
      ).to.deep.equal(taken.sort());
    });

    it('on SIGTERM finishes what it runs and leaves every other job waiting, none taken, none delayed', async () => {
      const queue = queueName();
      const submitter = await openShared(queue);
      // Every job waits before the worker starts: enqueued while it consumed, on a loaded machine the worker kept up
      // with the enqueues and had run all 600 before the SIGTERM.
      const ids = Array.from({ length: 600 }, (_, i) => `drain-${i}`);
      for (const [i, id] of ids.entries()) await submitter.enqueue(id, { priority: (i % 3) - 1, attempts: 0 });
      const { child, output } = childWorker('busy-worker.ts', queue);
      try {
        await eventually('the worker ran a few', () => (output().match(/^ran /gm)?.length ?? 0) >= 40);
        child.kill('SIGTERM');
        await eventually('the worker stopped', () => output().includes('stopped'));
        const ran = output()
          .split('\n')
          .filter((line) => line.startsWith('ran ')).length;
        const health = await submitter.health();
        expect(ran).to.be.lessThan(ids.length);
        expect(health.detail).to.equal(`waiting ${ids.length - ran}, active 0, delayed 0`);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('reports the depth of its queues as health', async () => {
      const broker = await openShared(queueName());
      await broker.enqueue(newTaskId(), { priority: 0 });
      await broker.enqueue(newTaskId(), { priority: 5, delayMs: 60_000 });
      const health = await broker.health();
      expect(health).to.deep.equal({ state: 'ok', detail: 'waiting 1, active 0, delayed 1' });
    });
  });

  it('refuses to start when Redis is unreachable, naming the url and a fix', async () => {
    const error = await open({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 500, queue: queueName() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.include({ code: ErrorCodes.BROKER_UNAVAILABLE });
    expect((error as Error).message).to.match(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
    expect((error as { hint: string }).hint).to.match(/start Redis/);
  });
});
