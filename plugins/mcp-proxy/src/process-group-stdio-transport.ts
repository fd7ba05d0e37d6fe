import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ServerStderrLog } from './server-stderr-log.js';

export interface ServerProcessOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** How long the server gets to exit after its stdin closes, and its process group after SIGTERM. */
  stopTimeoutMs: number;
  stderr: ServerStderrLog;
}

/**
 * MCP over the stdin/stdout of a server started in its own process group (the SDK's StdioClientTransport cannot do
 * that), so that stopping it also stops whatever it started: wrappers such as `npx` or shell scripts leave their
 * children behind otherwise, and those keep the host's pipes, and so the host, alive. Closing follows the MCP spec:
 * close stdin and wait, then SIGTERM to the group, then SIGKILL to whatever of it is left.
 */
export class ProcessGroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** How the server's process ended, once it has. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  private child?: ChildProcessWithoutNullStreams;
  private readonly readBuffer = new ReadBuffer();
  private exited!: Promise<void>;
  private closed!: Promise<void>;
  private stopping?: Promise<void>;

  constructor(private readonly options: ServerProcessOptions) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.command, this.options.args, {
        env: this.options.env,
        cwd: this.options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
        windowsHide: true,
      });
      this.child = child;
      this.exited = new Promise((done) => child.once('exit', () => done()));
      this.closed = new Promise((done) => child.once('close', () => done()));
      child.once('spawn', () => {
        if (child.pid !== undefined) liveGroups.add(child.pid);
        resolve();
      });
      child.on('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        // A server that exits on its own may still leave its children: they go with it.
        void this.stopGroup();
      });
      child.once('close', () => {
        this.readBuffer.clear();
        this.onclose?.();
      });
      child.stdin.on('error', (error) => this.onerror?.(error));
      child.stdout.on('error', (error) => this.onerror?.(error));
      child.stdout.on('data', (chunk: Buffer) => this.read(chunk));
      this.options.stderr.drain(child.stderr);
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || this.exit || !stdin.writable) return reject(new Error('Not connected'));
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (!this.exit && child.pid !== undefined) {
      child.stdin.end();
      await within(this.exited, this.options.stopTimeoutMs);
    }
    await this.stopGroup();
  }

  /** `exited with code 1`, `was killed by SIGKILL`, or nothing while it runs. */
  describeExit(): string | undefined {
    if (!this.exit) return undefined;
    return this.exit.signal ? `was killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }

  private read(chunk: Buffer): void {
    try {
      this.readBuffer.append(chunk);
    } catch (error) {
      // A line longer than the SDK's buffer (10 MB): the stream cannot be resynchronised, so the server goes.
      this.onerror?.(error as Error);
      void this.close();
      return;
    }
    for (;;) {
      try {
        const message = this.readBuffer.readMessage();
        if (!message) return;
        this.onmessage?.(message);
      } catch (error) {
        // A line that is not JSON-RPC (a server printing to stdout): reported, and the next line is read.
        this.onerror?.(error as Error);
      }
    }
  }

  /**
   * SIGTERM to the whole group; once the server's pipes are closed (every process holding them has exited) or the
   * deadline passed, SIGKILL to any member still there; then our ends of the pipes are let go so the host can exit.
   */
  private stopGroup(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      if (!child || child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      await within(this.closed, this.options.stopTimeoutMs);
      signalGroup(child.pid, 'SIGKILL');
      liveGroups.delete(child.pid);
      for (const stream of [child.stdin, child.stdout, child.stderr]) stream.destroy();
      this.options.stderr.flush();
    })();
    return this.stopping;
  }
}

/**
 * Leaders of the groups not stopped yet. A server in its own group no longer gets the terminal's Ctrl-C with the host,
 * so a host that exits without stopping its plugins (process.exit, a second Ctrl-C) sends SIGTERM to what is left.
 */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const leader of liveGroups) signalGroup(leader, 'SIGTERM');
});

function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    if (process.platform === 'win32') process.kill(leader, signal);
    else process.kill(-leader, signal);
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

/** Waits for `promise`, at most `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, deadline]);
  clearTimeout(timer);
}
