import { createConnection } from 'node:net';

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

/** The command this machine starts Redis with (see .ci/run): no persistence, so a restart comes back empty. */
const REDIS_START = [
  '--daemonize',
  'yes',
  '--bind',
  '127.0.0.1',
  '-::1',
  '--port',
  '6379',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  '/var/lib/redis',
  '--logfile',
  '/var/log/redis/ci.log',
];

/**
 * Stops the local Redis (SHUTDOWN NOSAVE: it comes back with nothing, like a crashed cache), waits `downMs`, and
 * starts it again the way .ci/run does; resolves once it answers PING.
 */
export async function restartRedis(downMs: number): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('redis-cli', ['-p', '6379', 'shutdown', 'nosave'], { stdio: 'ignore' });
  } catch {
    // SHUTDOWN closes the connection before answering; redis-cli may report that as an error.
  }
  const deadline = Date.now() + 10_000;
  while (await reachable(6379)) {
    if (Date.now() > deadline) throw new Error('Redis did not stop');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, downMs));
  execFileSync('redis-server', REDIS_START, { stdio: 'ignore' });
  while (!(await reachable(6379))) {
    if (Date.now() > deadline + downMs + 10_000) throw new Error('Redis did not start again');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
