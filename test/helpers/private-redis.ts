import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, reachable } from './services.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every private Redis still running, and its folder: removed when the test process exits, however it ends. */
const alive = new Set<ChildProcess>();
const folders = new Set<string>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/**
 * A redis-server of the test's own, on a free port, with nothing persisted (its working directory is a fresh
 * folder under the OS temp dir): a fault test can stop it, hard, and start it again empty, while the machine's
 * Redis on 6379 and whatever else uses it are left alone.
 */
export class PrivateRedis {
  private child?: ChildProcess;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** Starts a redis-server on a free port; resolves once it accepts connections. */
  static async start(): Promise<PrivateRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-redis-'));
    folders.add(dir);
    const redis = new PrivateRedis(await freePort(), dir);
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Stops the server the way a crash would: SIGKILL (default), or SHUTDOWN NOSAVE sent by redis-cli. Either way
   * its data is gone; resolves once the port refuses connections.
   */
  async kill(how: 'SIGKILL' | 'SHUTDOWN NOSAVE' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (how === 'SIGKILL') child.kill('SIGKILL');
    else spawn('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
    await exited;
    while (await reachable(this.port)) await sleep(20);
  }

  /** Kills the server, waits `downMs`, and starts an empty one on the same port. */
  async restart(downMs: number, how: 'SIGKILL' | 'SHUTDOWN NOSAVE' = 'SIGKILL'): Promise<void> {
    await this.kill(how);
    await sleep(downMs);
    await this.startAgain();
  }

  /** After `kill`: starts an empty server on the same port; resolves once it accepts connections. */
  async startAgain(): Promise<void> {
    await this.up();
  }

  /** Kills the server and removes its folder. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    folders.delete(this.dir);
  }

  private async up(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    alive.add(child);
    this.output = '';
    child.stdout!.on('data', (d: Buffer) => (this.output += d));
    child.stderr!.on('data', (d: Buffer) => (this.output += d));
    child.once('exit', () => alive.delete(child));
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      alive.delete(child);
      spawnError = error;
    });
    const deadline = Date.now() + 10_000;
    while (!(await reachable(this.port))) {
      if (spawnError || child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `redis-server did not start on port ${this.port} (fault tests need redis-server on the PATH): ${spawnError?.message ?? this.output}`,
        );
      }
      await sleep(20);
    }
  }
}
