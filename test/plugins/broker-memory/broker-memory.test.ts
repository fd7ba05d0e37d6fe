import { expect } from 'chai';
import { extensionPoints, services, type Delivery, type Logger } from '@opspawn/plugin-sdk';
import { brokerContract, startTestKernel } from '@opspawn/testing';
import { MemoryBroker } from '@opspawn/broker-memory';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function eventually(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/** A logger that keeps what it is told, to check what an operator would read. */
function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string; obj: object }> } {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push(typeof obj === 'string' ? { level, msg: obj, obj: {} } : { level, msg: msg ?? '', obj });
  };
  const logger = {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return logger;
}

brokerContract('broker-memory', async () => ({ broker: new MemoryBroker({ redeliveryBackoffMs: 10 }) }));

describe('broker-memory', () => {
  let broker: MemoryBroker | undefined;
  afterEach(async () => {
    await broker?.drain(1_000);
    broker = undefined;
  });

  it('delivers 10,000 jobs exactly once each when every handler succeeds', async () => {
    broker = new MemoryBroker();
    const count = 10_000;
    const deliveries = new Map<string, number>();
    await broker.consume(
      async (d) => {
        deliveries.set(d.taskId, (deliveries.get(d.taskId) ?? 0) + 1);
      },
      { concurrency: 32 },
    );
    for (let i = 0; i < count; i++) await broker.enqueue(`job-${i}`, { priority: (i % 21) - 10 });
    await eventually('every job was delivered', () => deliveries.size === count);
    await broker.drain(1_000);
    expect(deliveries.size).to.equal(count);
    expect([...deliveries.values()].every((n) => n === 1)).to.equal(true);
  });

  it('delivers jobs of one priority in the order they were enqueued', async () => {
    broker = new MemoryBroker();
    const ids = Array.from({ length: 20 }, (_, i) => `fifo-${i}`);
    for (const id of ids) await broker.enqueue(id, { priority: 3 });
    const order: string[] = [];
    await broker.consume(async (d) => void order.push(d.taskId), { concurrency: 1 });
    await eventually('every job was delivered', () => order.length === ids.length);
    expect(order).to.deep.equal(ids);
  });

  it('delivers delayed jobs in the order they become due, whatever order they were enqueued in', async () => {
    broker = new MemoryBroker();
    const order: string[] = [];
    await broker.consume(async (d) => void order.push(d.taskId), { concurrency: 1 });
    await broker.enqueue('third', { priority: 0, delayMs: 150 });
    await broker.enqueue('first', { priority: 0, delayMs: 30 });
    await broker.enqueue('second', { priority: 0, delayMs: 90 });
    await eventually('every job was delivered', () => order.length === 3);
    expect(order).to.deep.equal(['first', 'second', 'third']);
  });

  it('hands back the attempts and notBefore each job was enqueued with, also on a redelivery', async () => {
    broker = new MemoryBroker({ redeliveryBackoffMs: 1 });
    const seen: Delivery[] = [];
    await broker.enqueue('carried', { priority: 0, attempts: 2, notBefore: null });
    await broker.enqueue('plain', { priority: 0 });
    await broker.consume(
      async (d) => {
        seen.push(d);
        if (d.taskId === 'carried' && seen.length < 3) throw new Error('fell over once');
      },
      { concurrency: 1 },
    );
    await eventually('both jobs were delivered and the first again', () => seen.length === 3);
    const carried = seen.filter((d) => d.taskId === 'carried');
    expect(carried.map((d) => [d.attempts, d.notBefore])).to.deep.equal([
      [2, null],
      [2, null],
    ]);
    const plain = seen.find((d) => d.taskId === 'plain')!;
    expect(plain.attempts).to.equal(undefined);
    expect(plain.notBefore).to.equal(undefined);
  });

  it('keeps redelivering a failing job until the handler succeeds', async () => {
    broker = new MemoryBroker({ redeliveryBackoffMs: 1 });
    let attempts = 0;
    await broker.enqueue('flaky', { priority: 0 });
    await broker.consume(
      async () => {
        attempts++;
        if (attempts < 4) throw new Error(`failure ${attempts}`);
      },
      { concurrency: 1 },
    );
    await eventually('the job succeeded', () => attempts === 4);
    await sleep(50);
    expect(attempts).to.equal(4);
  });

  it('drops a job after maxRedeliveries and logs an error naming the task', async () => {
    const logger = recordingLogger();
    broker = new MemoryBroker({ redeliveryBackoffMs: 1, maxRedeliveries: 2 }, logger);
    let attempts = 0;
    await broker.enqueue('doomed', { priority: 0 });
    await broker.consume(
      async () => {
        attempts++;
        throw new Error('always fails');
      },
      { concurrency: 1 },
    );
    await eventually('the job was dropped', () => logger.lines.some((l) => l.level === 'error'));
    await sleep(50);
    expect(attempts).to.equal(3); // the first delivery and two redeliveries
    const error = logger.lines.find((l) => l.level === 'error')!;
    expect(error.msg).to.include('doomed');
    expect(error.obj).to.include({ taskId: 'doomed' });
    expect(broker.health().detail).to.equal('0 waiting, 0 running');
  });

  it('cancels with a TASK_CANCELLED reason and leaves other tasks running', async () => {
    broker = new MemoryBroker();
    const running = new Map<string, Delivery>();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await broker.consume(
      async (d) => {
        running.set(d.taskId, d);
        await Promise.race([released, new Promise((resolve) => d.signal.addEventListener('abort', resolve))]);
      },
      { concurrency: 2 },
    );
    await broker.enqueue('a', { priority: 0 });
    await broker.enqueue('b', { priority: 0 });
    await eventually('both run', () => running.size === 2);
    await broker.cancel('a');
    expect(running.get('a')!.signal.reason).to.include({ code: 'OPSPAWN_TASK_CANCELLED' });
    expect(running.get('b')!.signal.aborted).to.equal(false);
    await broker.cancel('not-running');
    release();
  });

  it('keeps jobs that were waiting during a drain, and delivers them when consuming starts again', async () => {
    broker = new MemoryBroker();
    await broker.enqueue('early', { priority: 0 });
    await broker.enqueue('later', { priority: 0, delayMs: 20 });
    await broker.drain(100);
    const seen: string[] = [];
    await sleep(40);
    expect(broker.health().detail).to.equal('2 waiting, 0 running');
    await broker.consume(async (d) => void seen.push(d.taskId), { concurrency: 1 });
    await eventually('both were delivered', () => seen.length === 2);
    expect(seen).to.deep.equal(['early', 'later']);
  });

  it('reports waiting and running jobs in its health detail', async () => {
    broker = new MemoryBroker();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    for (const id of ['a', 'b', 'c']) await broker.enqueue(id, { priority: 0 });
    expect(broker.health()).to.deep.equal({ state: 'ok', detail: '3 waiting, 0 running' });
    let started = 0;
    await broker.consume(
      async () => {
        started++;
        await released;
      },
      { concurrency: 2 },
    );
    await eventually('two run', () => started === 2);
    expect(broker.health()).to.deep.equal({ state: 'ok', detail: '1 waiting, 2 running' });
    release();
  });

  describe('a job due in the year 9999, past the longest delay one Node timer can have', () => {
    const YEAR_9999 = Date.parse('9999-12-31T00:00:00Z');
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    const realSetTimeout = globalThis.setTimeout;
    /** The delay of every timer armed while a test ran (the broker's and anyone else's). */
    const timerDelays: number[] = [];
    beforeEach(() => {
      warnings.length = 0;
      timerDelays.length = 0;
      process.on('warning', onWarning);
      globalThis.setTimeout = ((handler: () => void, delay?: number) => {
        timerDelays.push(delay ?? 0);
        return realSetTimeout(handler, delay);
      }) as typeof setTimeout;
    });
    afterEach(() => {
      globalThis.setTimeout = realSetTimeout;
      process.off('warning', onWarning);
    });
    const realSleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

    it('waits without a TimeoutOverflowWarning or a short timer, and is dropped when its task is cancelled', async () => {
      broker = new MemoryBroker();
      const delivered: string[] = [];
      await broker.consume(async (d) => void delivered.push(d.taskId), { concurrency: 1 });
      await broker.enqueue('far-future', { priority: 0, delayMs: YEAR_9999 - Date.now() });
      await broker.enqueue('now', { priority: 0 });
      await eventually('the job due now was delivered', () => delivered.length === 1);
      // A timer loop would arm hundreds of 1 ms timers in this time.
      await realSleep(100);

      expect(warnings.map((w) => `${w.name}: ${w.message}`)).to.deep.equal([]);
      expect(timerDelays).to.not.be.empty;
      for (const delay of timerDelays) expect(delay).to.be.within(60_000, 2 ** 31 - 1);
      expect(delivered).to.deep.equal(['now']);
      expect(broker.health().detail).to.equal('1 waiting, 0 running');

      await broker.cancel('far-future');
      expect(broker.health().detail).to.equal('0 waiting, 0 running');
    });

    it('leaves a task with notBefore in 9999 queued in a kernel, and lets it be cancelled', async () => {
      const kernel = await startTestKernel({ plugins: EMBEDDED_MEMORY_PLUGINS });
      try {
        const tasks = kernel.get(services.taskService);
        const { task } = await tasks.submit({
          goal: 'wait for the year 9999',
          input: { plan: [], final: 'too late' },
          notBefore: new Date(YEAR_9999).toISOString(),
        });
        await realSleep(100);
        expect((await tasks.get(task.id)).status).to.equal('queued');
        const report = await kernel.get(services.health).report();
        expect(report.checks['broker-memory:broker']).to.deep.equal({ state: 'ok', detail: '1 waiting, 0 running' });
        expect(warnings.map((w) => `${w.name}: ${w.message}`)).to.deep.equal([]);

        expect((await tasks.cancel(task.id)).status).to.equal('cancelled');
      } finally {
        await kernel.stop();
      }
    });
  });

  it('in a kernel, never lets a job carrying a stale attempt run a task again: the store decides', async () => {
    const kernel = await startTestKernel({ plugins: EMBEDDED_MEMORY_PLUGINS });
    try {
      const tasks = kernel.get(services.taskService);
      const { task } = await tasks.submit({ goal: 'runs once', input: { plan: [], final: 'done' } });
      for await (const e of tasks.watch(task.id)) void e;
      const done = await tasks.get(task.id);
      const eventsBefore = await tasks.events(task.id);
      // The same job again (attempt 0, due now), as a recovery sweep could make it.
      const broker = kernel.get(extensionPoints.broker);
      await broker.enqueue(task.id, { priority: 0, attempts: 0, notBefore: null });
      await eventually('the job was taken', () => broker.health!().detail === '0 waiting, 0 running');
      await sleep(50);
      expect(await tasks.get(task.id)).to.deep.include({
        status: 'succeeded',
        attempts: 1,
        finishedAt: done.finishedAt,
      });
      expect(await tasks.events(task.id)).to.deep.equal(eventsBefore);
    } finally {
      await kernel.stop();
    }
  });

  it('boots in a kernel and reports waiting and running jobs through the health service', async () => {
    const kernel = await startTestKernel({ plugins: EMBEDDED_MEMORY_PLUGINS });
    try {
      expect(kernel.get(extensionPoints.broker).recoversOnStart).to.equal(true);
      const report = await kernel.get(services.health).report();
      expect(report.checks['broker-memory:broker']).to.deep.equal({ state: 'ok', detail: '0 waiting, 0 running' });
    } finally {
      await kernel.stop();
    }
  });
});
