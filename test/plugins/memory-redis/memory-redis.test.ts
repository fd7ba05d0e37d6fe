import { createServer } from 'node:net';
import { expect } from 'chai';
import redis from 'redis';
import { extensionPoints, services, type ChatMessage, type Memory } from '@opspawn/plugin-sdk';
import { memoryContract, startTestKernel, type TestKernel } from '@opspawn/testing';
import { RedisMemory, type RedisMemoryOptions } from '@opspawn/memory-redis';
import { PrivateRedis } from '../../helpers/private-redis.js';
import { REDIS_URL, requireService } from '../../helpers/services.js';

/** Every key this run writes starts with it, so the run cleans up after itself and never meets an earlier run. */
const PREFIX = `opspawn-test:memory:${process.pid}-${Date.now().toString(36)}:`;

const user = (content: string): ChatMessage => ({ role: 'user', content });
const system = (content: string): ChatMessage => ({ role: 'system', content });
const contents = (messages: ChatMessage[]) => messages.map((m) => m.content);

/** A raw client, to look at what the plugin stored as an operator would with redis-cli. */
function rawRedis() {
  const client = redis.createClient(REDIS_URL);
  const send = <T>(command: string, ...args: Array<string | number>) =>
    new Promise<T>((resolve, reject) => {
      client.send_command(command, args, (error: Error | null, reply: T) => (error ? reject(error) : resolve(reply)));
    });
  return { send, close: () => new Promise<void>((resolve) => client.quit(() => resolve())) };
}

/** A port nothing listens on: taken from the OS, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('memory-redis (needs Redis)', function () {
  const opened: RedisMemory[] = [];
  /** One worker process's memory: its own connection to the shared Redis. */
  async function worker(options: Partial<RedisMemoryOptions> = {}): Promise<RedisMemory> {
    const memory = await RedisMemory.open({ url: REDIS_URL, keyPrefix: PREFIX, ...options });
    opened.push(memory);
    return memory;
  }
  let raw: ReturnType<typeof rawRedis>;
  let sessionCounter = 0;
  const session = (label: string) => `${label}-${sessionCounter++}`;

  before(async function () {
    await requireService(this, 'redis');
    raw = rawRedis();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((m) => m.close()));
  });

  after(async () => {
    if (!raw) return;
    const keys = await raw.send<string[]>('KEYS', `${PREFIX}*`);
    if (keys.length > 0) await raw.send('DEL', ...keys);
    await raw.close();
  });

  memoryContract('memory-redis', async () => {
    const memory = await RedisMemory.open({ url: REDIS_URL, keyPrefix: PREFIX });
    return { memory, cleanup: () => memory.close() };
  });

  it('continues a conversation on another worker: what one appends, the other loads', async () => {
    const [a, b] = [await worker(), await worker()];
    const s = session('handover');
    await a.append(s, [user('my number is 7')]);
    await b.append(s, [{ role: 'assistant', content: 'noted: 7' }]);
    await a.append(s, [user('what was my number?')]);
    expect(contents(await b.load(s))).to.deep.equal(['my number is 7', 'noted: 7', 'what was my number?']);
    expect(await b.load(s)).to.deep.equal(await a.load(s));
  });

  it('keeps each batch together and in order when two workers append at once', async () => {
    const [a, b] = [
      await worker({ maxMessages: 1000, maxTokens: 1_000_000 }),
      await worker({ maxMessages: 1000, maxTokens: 1_000_000 }),
    ];
    const s = session('concurrent');
    const batch = (w: string, n: number) => Array.from({ length: 5 }, (_, i) => user(`${w}${n}.${i}`));
    const appendAll = async (memory: Memory, w: string) => {
      for (let n = 0; n < 20; n++) await memory.append(s, batch(w, n));
    };
    await Promise.all([appendAll(a, 'a'), appendAll(b, 'b')]);

    const loaded = contents(await a.load(s));
    expect(loaded).to.have.length(200);
    for (let i = 0; i < loaded.length; i += 5) {
      const [w, n] = loaded[i]!.split(/[.]/)[0]!
        .match(/^([ab])(\d+)$/)!
        .slice(1);
      expect(loaded.slice(i, i + 5), `batch starting at ${i}`).to.deep.equal(contents(batch(w!, Number(n))));
    }
    for (const w of ['a', 'b']) {
      const ownBatches = loaded.filter((c) => c.startsWith(w) && c.endsWith('.0'));
      expect(ownBatches, `${w}'s batches in the order it sent them`).to.deep.equal(
        Array.from({ length: 20 }, (_, n) => `${w}${n}.0`),
      );
    }
  });

  it('never stores more than maxMessages for a session, however many workers append at once', async () => {
    const workers = await Promise.all([
      worker({ maxMessages: 7 }),
      worker({ maxMessages: 7 }),
      worker({ maxMessages: 7 }),
    ]);
    const s = session('bounded');
    await Promise.all(
      workers.flatMap((memory, w) =>
        Array.from({ length: 30 }, (_, n) =>
          memory.append(s, [user(`${w}/${n}/0`), user(`${w}/${n}/1`), user(`${w}/${n}/2`)]),
        ),
      ),
    );
    expect(await raw.send('LLEN', `${PREFIX}${s}:messages`)).to.equal(7);
    const window = contents(await workers[0]!.load(s));
    expect(window).to.have.length(7);
    // The newest message closes a batch, and the two messages before it are that batch's.
    const [w, n] = window[6]!.split('/');
    expect(window.slice(4)).to.deep.equal([`${w}/${n}/0`, `${w}/${n}/1`, `${w}/${n}/2`]);
  });

  it('keeps the system message that opened the session, however long the session grows', async () => {
    const [a, b] = [await worker({ maxMessages: 3 }), await worker({ maxMessages: 3 })];
    const s = session('pinned');
    await a.append(s, [system('answer in French'), user('0')]);
    for (let i = 1; i < 50; i++) await (i % 2 ? b : a).append(s, [user(String(i))]);
    expect(contents(await b.load(s))).to.deep.equal(['answer in French', '48', '49']);
  });

  it('pins only a system message that opens the session, not a later one', async () => {
    const memory = await worker({ maxMessages: 2 });
    const s = session('late-system');
    await memory.append(s, [user('first')]);
    await memory.append(s, [system('late note'), user('second'), user('third')]);
    expect(contents(await memory.load(s))).to.deep.equal(['second', 'third']);
  });

  it('bounds the window by approximate tokens, as memory-buffer does', async () => {
    const memory = await worker({ maxTokens: 25 });
    const s = session('tokens');
    // 40 characters each: 10 tokens; two fit in 25, three do not.
    await memory.append(
      s,
      ['a', 'b', 'c', 'd'].map((c) => user(c.repeat(40))),
    );
    expect(contents(await memory.load(s))).to.deep.equal(['c'.repeat(40), 'd'.repeat(40)]);
  });

  it('drops tool results at the start of the window whose tool call was cut off', async () => {
    const memory = await worker({ maxMessages: 3 });
    const s = session('orphans');
    await memory.append(s, [
      user('add'),
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', tool: 'math__add', arguments: {} }] },
    ]);
    await memory.append(s, [
      { role: 'tool', content: '3', toolCallId: 'c1', name: 'math__add' },
      { role: 'assistant', content: '3' },
      user('thanks'),
    ]);
    expect(contents(await memory.load(s))).to.deep.equal(['3', 'thanks']);
  });

  it('makes an idle session expire after ttlSeconds, renewed by every append', async () => {
    const memory = await worker({ ttlSeconds: 3600 });
    const s = session('ttl');
    const [list, pinned] = [`${PREFIX}${s}:messages`, `${PREFIX}${s}:system`];
    await memory.append(s, [system('rules'), user('hello')]);
    for (const key of [list, pinned]) {
      expect(await raw.send<number>('TTL', key), key).to.be.within(3500, 3600);
    }
    await raw.send('EXPIRE', list, 5);
    await memory.append(s, [user('still here')]);
    expect(await raw.send<number>('TTL', list)).to.be.within(3500, 3600);
  });

  it('keeps sessions until cleared when ttlSeconds is 0', async () => {
    const memory = await worker({ ttlSeconds: 0 });
    const s = session('forever');
    await memory.append(s, [user('keep me')]);
    expect(await raw.send('TTL', `${PREFIX}${s}:messages`)).to.equal(-1);
  });

  it('refuses to load a session whose stored message is not JSON, naming the key', async () => {
    const memory = await worker();
    const s = session('corrupt');
    await memory.append(s, [user('fine')]);
    await raw.send('RPUSH', `${PREFIX}${s}:messages`, '{not json');
    const error = await memory.load(s).catch((e: Error) => e);
    expect(String(error)).to.match(
      new RegExp(
        `^OPSPAWN_TASK_INTERNAL: memory-redis: Redis key '${PREFIX}${s}:messages' holds a message at index -1, which is not JSON`,
      ),
    );
    expect(String(error)).to.contain(`(fix: delete it (DEL ${PREFIX}${s}:messages)`);
  });

  it('refuses a session whose key another program filled with something else, naming the keys', async () => {
    const memory = await worker();
    const s = session('foreign');
    await raw.send('SET', `${PREFIX}${s}:messages`, 'a plain string');
    const error = await memory.append(s, [user('hello')]).catch((e: Error) => e);
    expect(String(error)).to.contain(
      `memory-redis: Redis key '${PREFIX}${s}:messages' or '${PREFIX}${s}:system' holds a value of another type`,
    );
  });

  it('goes on loading and appending on a Redis that lost its scripts (restarted, or SCRIPT FLUSH)', async () => {
    // A Redis of the test's own: flushing the machine's would touch every other user of its scripts.
    const server = await PrivateRedis.start();
    try {
      const memory = await worker({ url: server.url });
      const s = session('flushed');
      await memory.append(s, [system('be brief'), user('one')]);
      expect(contents(await memory.load(s))).to.deep.equal(['be brief', 'one']);
      const flush = redis.createClient(server.url);
      await new Promise((resolve, reject) =>
        flush.send_command('SCRIPT', ['FLUSH'], (e) => (e ? reject(e) : resolve(e))),
      );
      await new Promise((resolve) => flush.quit(resolve));
      expect(contents(await memory.load(s))).to.deep.equal(['be brief', 'one']);
      await memory.append(s, [user('two')]);
      expect(contents(await memory.load(s))).to.deep.equal(['be brief', 'one', 'two']);
    } finally {
      await Promise.all(opened.splice(0).map((m) => m.close()));
      await server.stop();
    }
  });

  describe('in a kernel', () => {
    const kernels: TestKernel[] = [];
    const boot = async () => {
      const kernel = await startTestKernel({
        plugins: [
          '@opspawn/store-memory',
          '@opspawn/broker-memory',
          '@opspawn/planner-scripted',
          { use: '@opspawn/memory-redis', options: { url: REDIS_URL, keyPrefix: PREFIX } },
        ],
      });
      kernels.push(kernel);
      return kernel;
    };
    afterEach(async () => {
      await Promise.all(kernels.splice(0).map((k) => k.stop()));
    });

    it('continues a multi-task conversation on a second worker, and reports Redis healthy', async () => {
      const [first, second] = [await boot(), await boot()];
      const sessionId = session('kernel');
      const run = async (kernel: TestKernel, goal: string, answer: string) => {
        const tasks = kernel.get(services.taskService);
        const { task } = await tasks.submit({ goal, sessionId, input: { plan: [], final: answer } });
        for await (const event of tasks.watch(task.id)) void event;
        expect((await tasks.get(task.id)).status).to.equal('succeeded');
      };
      await run(first, 'remember 7', 'remembered');
      await run(second, 'what did I ask you to remember?', '7');

      const memory = second.get(extensionPoints.memory).find((p) => p.plugin === 'memory-redis')!.value;
      expect(contents(await memory.load(sessionId))).to.deep.equal([
        'remember 7',
        'remembered',
        'what did I ask you to remember?',
        '7',
      ]);
      const report = await second.get(services.health).report();
      expect(report.checks['memory-redis:memory']).to.deep.include({ state: 'ok' });
    });

    it('fails the boot when Redis cannot be reached, naming the url and what to do', async () => {
      const url = `redis://127.0.0.1:${await closedPort()}`;
      const error = await startTestKernel({
        plugins: [
          '@opspawn/store-memory',
          '@opspawn/broker-memory',
          '@opspawn/planner-scripted',
          { use: '@opspawn/memory-redis', options: { url, connectTimeoutMs: 2000 } },
        ],
      }).catch((e: Error) => e);
      expect(String(error)).to.contain(`memory-redis cannot reach Redis at ${url}`);
      expect(String(error)).to.contain('ECONNREFUSED');
      expect(String(error)).to.contain('fix: start Redis there, or set the url option');
    });

    it('does not show the password of the url it could not reach', async () => {
      const url = `redis://:s3cret@127.0.0.1:${await closedPort()}`;
      const error = await RedisMemory.open({ url, connectTimeoutMs: 2000 }).catch((e: Error) => e);
      expect(String(error)).to.match(
        /^OPSPAWN_PLUGIN_START_FAILED: memory-redis cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/,
      );
      expect(String(error)).not.to.contain('s3cret');
    });
  });
});
