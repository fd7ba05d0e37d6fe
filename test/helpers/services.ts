import { createConnection, createServer } from 'node:net';
import pg from 'pg';

export const POSTGRES_URL = process.env.OPSPAWN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.OPSPAWN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function reachable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * For suites that need a real service: outside CI a missing service skips the suite, saying so loudly;
 * with CI=true it fails, because CI must run every suite. Call in `before()` with `this`.
 */
export async function requireService(ctx: Mocha.Context, name: 'postgres' | 'redis'): Promise<void> {
  const port = name === 'postgres' ? 5432 : 6379;
  if (await reachable(port)) return;
  const message = `${name} is not reachable on 127.0.0.1:${port}`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI must run this suite (.ci/run starts the services)`);
  console.warn(
    `\n  !!! SKIPPING "${ctx.test?.parent?.fullTitle() ?? name}": ${message}. Start it to run these tests. !!!\n`,
  );
  ctx.skip();
}

/** A TCP port nothing listens on right now, for a server the test starts itself. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Drops a test's PostgreSQL schema and everything in it; a server that is gone has nothing to drop. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client
    .connect()
    .then(() => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
    .catch(() => undefined);
  await client.end().catch(() => undefined);
}
