import { expect } from 'chai';
import pg from 'pg';
import redis, { type RedisClient } from 'redis';
import { PrivateRedis } from '../helpers/private-redis.js';
import { POSTGRES_URL, REDIS_URL, requireService } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

function command(client: RedisClient, name: string, ...args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) =>
    client.send_command(name, args, (error: Error | null, reply: unknown) => (error ? reject(error) : resolve(reply))),
  );
}

async function withRedis<T>(url: string, use: (client: RedisClient) => Promise<T>): Promise<T> {
  const client = redis.createClient(url);
  try {
    return await use(client);
  } finally {
    await new Promise((resolve) => client.quit(resolve));
  }
}

const serverRunId = (info: unknown) => /run_id:(\w+)/.exec(String(info))![1];

describe('the services fault tests stop: their own, never the machine’s', function () {
  this.timeout(30_000);

  describe('a private Redis', () => {
    let privateRedis: PrivateRedis;
    const key = `opspawn-fault-services-${process.pid}`;

    before(async function () {
      await requireService(this, 'redis');
      privateRedis = await PrivateRedis.start();
    });
    after(async () => {
      await privateRedis?.stop();
      await withRedis(REDIS_URL, (client) => command(client, 'DEL', key));
    });

    for (const how of ['SIGKILL', 'SHUTDOWN NOSAVE'] as const) {
      it(`comes back empty on the same port after ${how}, while the Redis on 6379 keeps its data and process`, async () => {
        expect(privateRedis.port).to.not.equal(6379);
        const machineRunId = await withRedis(REDIS_URL, async (client) => {
          await command(client, 'SET', key, 'kept');
          return serverRunId(await command(client, 'INFO', 'server'));
        });
        const url = privateRedis.url;
        await withRedis(url, (client) => command(client, 'SET', 'written-before', 'yes'));

        await privateRedis.restart(200, how);

        expect(privateRedis.url).to.equal(url);
        expect(await withRedis(url, (client) => command(client, 'DBSIZE'))).to.equal(0);
        await withRedis(REDIS_URL, async (client) => {
          expect(await command(client, 'GET', key)).to.equal('kept');
          expect(serverRunId(await command(client, 'INFO', 'server'))).to.equal(machineRunId);
        });
      });
    }
  });

  describe('a TCP proxy to PostgreSQL', () => {
    let proxy: TcpProxy;

    before(async function () {
      await requireService(this, 'postgres');
      proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    });
    after(() => proxy?.close());

    it('breaks open connections and refuses new ones while cut, and lets new ones through once restored', async () => {
      const viaProxy = new URL(POSTGRES_URL);
      viaProxy.port = String(proxy.port);
      const open = async () => {
        const client = new pg.Client({ connectionString: viaProxy.href, connectionTimeoutMillis: 5000 });
        client.on('error', () => undefined);
        await client.connect();
        return client;
      };
      const before = await open();
      expect((await before.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);

      proxy.cutConnections();
      let error: unknown;
      await before.query('SELECT 1').catch((e: unknown) => (error = e));
      expect(error, 'a query on a cut connection').to.be.instanceOf(Error);
      error = undefined;
      await open().catch((e: unknown) => (error = e));
      expect(error, 'a new connection while cut').to.be.instanceOf(Error);

      proxy.restore();
      const after = await open();
      expect((await after.query('SELECT 2 AS two')).rows).to.deep.equal([{ two: 2 }]);
      await after.end();
      await before.end().catch(() => undefined);
    });
  });
});
