import { expect } from 'chai';
import type { Broker, Delivery } from '../extension-points/broker.js';
import { newTaskId } from '../task-id.js';

export interface BrokerUnderTest {
  broker: Broker;
  /** Runs after each test, once the broker has been drained: close connections, delete queues. */
  cleanup?: () => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds; fails naming `what` after `timeoutMs`. */
async function eventually(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/** A promise with its resolve function outside, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A signal's abort as a promise, to hold a handler until its delivery is cancelled. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

/**
 * What every broker promises (see `Broker`): each enqueued job is delivered, higher priority first, delays
 * honoured, concurrency respected, rejected deliveries redelivered, `cancel` and `drain` reach the running
 * handler. Each test uses fresh task ids and ignores deliveries of ids it did not enqueue, so a shared queue
 * left dirty by another run does not confuse it.
 *
 *     brokerContract('broker-memory', async () => ({ broker: new MemoryBroker({ redeliveryBackoffMs: 10 }) }));
 */
export function brokerContract(name: string, makeBroker: () => Promise<BrokerUnderTest>): void {
  describe(`${name} keeps the broker contract`, function () {
    this.timeout(30_000);
    /** Undefined while a make function fails: afterEach then has nothing to clean up, and the failure shows as is. */
    let subject: BrokerUnderTest | undefined;
    let broker: Broker;

    beforeEach(async () => {
      subject = undefined;
      subject = await makeBroker();
      broker = subject.broker;
    });

    afterEach(async () => {
      if (!subject) return;
      await subject.broker.drain(1_000);
      await subject.cleanup?.();
    });

    /** `count` fresh ids, and a filter that keeps deliveries of these ids only. */
    function ids(count: number): { list: string[]; mine: (d: Delivery) => boolean } {
      const list = Array.from({ length: count }, () => newTaskId());
      const set = new Set(list);
      return { list, mine: (d) => set.has(d.taskId) };
    }

    it('delivers every enqueued job', async () => {
      const { list, mine } = ids(50);
      const seen = new Set<string>();
      for (const id of list) await broker.enqueue(id, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (mine(d)) seen.add(d.taskId);
        },
        { concurrency: 4 },
      );
      await eventually('every job was delivered', () => seen.size === list.length);
      expect([...seen].sort()).to.deep.equal([...list].sort());
    });

    it('delivers jobs that arrive while it consumes', async () => {
      const { list, mine } = ids(10);
      const seen = new Set<string>();
      await broker.consume(
        async (d) => {
          if (mine(d)) seen.add(d.taskId);
        },
        { concurrency: 2 },
      );
      for (const id of list) await broker.enqueue(id, { priority: 0 });
      await eventually('every job was delivered', () => seen.size === list.length);
    });

    it('delivers waiting jobs of higher priority first', async () => {
      const { list, mine } = ids(9);
      const priorities = [0, 5, -3, 5, 0, 10, -3, 10, 0];
      const priorityOf = new Map(list.map((id, i) => [id, priorities[i]!]));
      for (const [i, id] of list.entries()) await broker.enqueue(id, { priority: priorities[i]! });
      const order: number[] = [];
      await broker.consume(
        async (d) => {
          if (mine(d)) order.push(priorityOf.get(d.taskId)!);
        },
        { concurrency: 1 },
      );
      await eventually('every job was delivered', () => order.length === list.length);
      expect(order).to.deep.equal([...priorities].sort((a, b) => b - a));
    });

    it('keeps a job delayed to the year 9999 waiting, with no timer overflowing', async () => {
      const {
        list: [farFuture, now],
        mine,
      } = ids(2);
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on('warning', onWarning);
      try {
        await broker.enqueue(farFuture!, { priority: 0, delayMs: Date.parse('9999-12-31T00:00:00Z') - Date.now() });
        await broker.enqueue(now!, { priority: 0 });
        const seen: string[] = [];
        await broker.consume(
          async (d) => {
            if (mine(d)) seen.push(d.taskId);
          },
          { concurrency: 2 },
        );
        await eventually('the job due now was delivered', () => seen.length === 1);
        // Node reports an overflowing timer on the next tick; a timer loop would report one every millisecond.
        await sleep(100);
        expect(seen).to.deep.equal([now]);
        expect(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning'))).to.deep.equal([]);
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('does not deliver a delayed job before its delay, even ahead of lower priorities', async () => {
      const {
        list: [later, now],
        mine,
      } = ids(2);
      const delayMs = 300;
      const enqueuedAt = Date.now();
      await broker.enqueue(later!, { priority: 10, delayMs });
      await broker.enqueue(now!, { priority: 0 });
      const deliveries: Array<{ id: string; at: number }> = [];
      await broker.consume(
        async (d) => {
          if (mine(d)) deliveries.push({ id: d.taskId, at: Date.now() });
        },
        { concurrency: 1 },
      );
      await eventually('both jobs were delivered', () => deliveries.length === 2);
      expect(deliveries.map((d) => d.id)).to.deep.equal([now, later]);
      // A few milliseconds of slack for clock granularity: the promise is "not before", not "exactly at".
      expect(deliveries[1]!.at - enqueuedAt).to.be.at.least(delayMs - 5);
    });

    it('never runs more handlers at once than its concurrency', async () => {
      const { list, mine } = ids(40);
      let running = 0;
      let most = 0;
      let done = 0;
      for (const id of list) await broker.enqueue(id, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          running++;
          most = Math.max(most, running);
          await sleep(2);
          running--;
          done++;
        },
        { concurrency: 3 },
      );
      await eventually('every job was handled', () => done >= list.length);
      expect(most).to.be.at.most(3);
    });

    it('runs as many handlers at once as its concurrency allows', async () => {
      const { list, mine } = ids(3);
      const release = gate();
      let running = 0;
      for (const id of list) await broker.enqueue(id, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          running++;
          await release.promise;
        },
        { concurrency: 3 },
      );
      await eventually('three handlers run at once', () => running === 3);
      release.open();
    });

    it('delivers a job again when its handler rejects', async () => {
      const {
        list: [id],
        mine,
      } = ids(1);
      let attempts = 0;
      let succeeded = false;
      await broker.enqueue(id!, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          attempts++;
          if (attempts === 1) throw new Error('worker fell over');
          succeeded = true;
        },
        { concurrency: 1 },
      );
      await eventually('the job was delivered again', () => succeeded);
      expect(attempts).to.be.at.least(2);
    });

    it('aborts the signal of the delivery running a cancelled task, and only that one', async () => {
      const {
        list: [target, bystander],
        mine,
      } = ids(2);
      const signals = new Map<string, AbortSignal>();
      const release = gate();
      await broker.enqueue(target!, { priority: 0 });
      await broker.enqueue(bystander!, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          signals.set(d.taskId, d.signal);
          await Promise.race([aborted(d.signal), release.promise]);
        },
        { concurrency: 2 },
      );
      await eventually('both deliveries run', () => signals.size === 2);
      await broker.cancel(target!);
      await eventually('the cancelled delivery is aborted', () => signals.get(target!)!.aborted);
      expect(signals.get(bystander!)!.aborted).to.equal(false);
      release.open();
    });

    it('drain waits for running deliveries and starts no new ones', async () => {
      const {
        list: [first, second],
        mine,
      } = ids(2);
      const release = gate();
      const started: string[] = [];
      let finished = false;
      await broker.enqueue(first!, { priority: 1 });
      await broker.enqueue(second!, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          started.push(d.taskId);
          await release.promise;
          finished = true;
        },
        { concurrency: 1 },
      );
      await eventually('the first delivery runs', () => started.length === 1);
      let drained = false;
      const draining = broker.drain(10_000).then(() => (drained = true));
      await sleep(50);
      expect(drained, 'drain resolved while a delivery was running').to.equal(false);
      release.open();
      await draining;
      expect(finished).to.equal(true);
      await sleep(100);
      expect(started).to.deep.equal([first]);
    });

    it('drain aborts the signals of deliveries still running when its timeout passes', async () => {
      const {
        list: [id],
        mine,
      } = ids(1);
      let signal: AbortSignal | undefined;
      await broker.enqueue(id!, { priority: 0 });
      await broker.consume(
        async (d) => {
          if (!mine(d)) return;
          signal = d.signal;
          await aborted(d.signal);
        },
        { concurrency: 1 },
      );
      await eventually('the delivery runs', () => signal !== undefined);
      await broker.drain(50);
      expect(signal!.aborted).to.equal(true);
    });
  });
}
