import redis from 'redis';
import {
  ErrorCodes,
  OpspawnError,
  describeError,
  fitChatWindow,
  redactUrl,
  type ChatMessage,
  type ChatWindowBounds,
  type HealthCheckResult,
  type Memory,
} from '@opspawn/plugin-sdk';
import { APPEND_SCRIPT, LOAD_SCRIPT, type Script } from './append-script.js';
import { foreignDataError, parseStoredMessage } from './stored-message.js';

export interface RedisMemoryOptions extends ChatWindowBounds {
  /** redis:// URL; write `${REDIS_URL:-redis://127.0.0.1:6379}` in the config. */
  url: string;
  /** Prefix of every key this memory writes. */
  keyPrefix: string;
  /** A session expires this long after its last append; 0 keeps it until cleared. */
  ttlSeconds: number;
  /** Longest `open` waits for Redis to answer PING. */
  connectTimeoutMs: number;
}

/** The configSchema's defaults, for code that builds a memory without the kernel. */
export const REDIS_MEMORY_DEFAULTS: RedisMemoryOptions = {
  url: 'redis://127.0.0.1:6379',
  keyPrefix: 'opspawn:memory:',
  maxMessages: 50,
  maxTokens: 8000,
  ttlSeconds: 7 * 24 * 3600,
  connectTimeoutMs: 5000,
};

/** Reconnection backoff after a lost connection: quick at first, then every two seconds. */
const reconnectDelayMs = (attempt: number) => Math.min(attempt * 100, 2000);

/**
 * Per-session message history in Redis, shared by every process that points at the same server and keyPrefix, so
 * a conversation continues on whichever worker runs its next task. Each session is a list trimmed to
 * `maxMessages` on every append; `load` applies the same window as memory-buffer (pinned leading system message,
 * token budget from the newest backwards, no orphaned tool results).
 */
export class RedisMemory implements Memory {
  private readonly client: redis.RedisClient;
  /** Why the connection last failed, for health and for a start that times out. */
  private lastError?: Error;

  private constructor(private readonly options: RedisMemoryOptions) {
    this.client = redis.createClient(options.url, {
      // With a retry strategy node_redis reports connection errors here instead of as 'error' events.
      retry_strategy: ({ attempt, error }) => {
        this.lastError = error ?? this.lastError;
        return reconnectDelayMs(attempt);
      },
    });
    // Other errors (a protocol error) must not crash the host: the commands concerned report them.
    this.client.on('error', (error: Error) => {
      this.lastError = error;
    });
  }

  /** Connects and checks the server answers; a boot fails here, naming the url, when Redis cannot be reached. */
  static async open(options: Partial<RedisMemoryOptions> = {}): Promise<RedisMemory> {
    const memory = new RedisMemory({ ...REDIS_MEMORY_DEFAULTS, ...options });
    const { url, connectTimeoutMs } = memory.options;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        memory.command('ping'),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(memory.lastError ?? new Error(`no answer within ${connectTimeoutMs} ms`)),
            connectTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      memory.client.end(true);
      throw new OpspawnError(
        ErrorCodes.PLUGIN_START_FAILED,
        `memory-redis cannot reach Redis at ${redactUrl(url)}: ${describeError(error)}`,
        {
          plugin: 'memory-redis',
          cause: error,
          hint: "start Redis there, or set the url option (e.g. url: '${REDIS_URL:-redis://127.0.0.1:6379}') to where it runs",
        },
      );
    } finally {
      clearTimeout(timer);
    }
    return memory;
  }

  async append(sessionId: string, messages: readonly ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const { list, pinned } = this.keys(sessionId);
    const opensWithSystem = messages[0]!.role === 'system' ? '1' : '0';
    await this.run(APPEND_SCRIPT, [
      list,
      pinned,
      this.options.maxMessages,
      this.options.ttlSeconds,
      opensWithSystem,
      ...messages.map((m) => JSON.stringify(m)),
    ]).catch((error) => this.explain(error, sessionId));
  }

  async load(sessionId: string): Promise<ChatMessage[]> {
    const { list, pinned } = this.keys(sessionId);
    // One script: the pinned message and the list as of the same moment, even while another worker appends.
    const [rawPinned, rawHistory] = await this.run<[string | null, string[]]>(LOAD_SCRIPT, [
      list,
      pinned,
      this.options.maxMessages,
    ]).catch((error) => this.explain(error, sessionId));
    const history = rawHistory.map((raw, i) =>
      parseStoredMessage(raw, list, `a message at index ${i - rawHistory.length}`),
    );
    const pin = rawPinned === null ? undefined : parseStoredMessage(rawPinned, pinned, 'the pinned system message');
    return fitChatWindow(history, this.options, pin);
  }

  async clear(sessionId: string): Promise<void> {
    const { list, pinned } = this.keys(sessionId);
    await this.command('del', [list, pinned]);
  }

  /** Reported by the kernel's health service: `down` while the connection to Redis is lost. */
  async health(): Promise<HealthCheckResult> {
    if (!this.client.connected) {
      return {
        state: 'down',
        detail: `not connected to ${redactUrl(this.options.url)}${this.lastError ? `: ${this.lastError.message}` : ''}`,
      };
    }
    try {
      await this.command('ping');
      return { state: 'ok', detail: `connected to ${redactUrl(this.options.url)}` };
    } catch (error) {
      return { state: 'down', detail: describeError(error) };
    }
  }

  /** Waits for the replies still owed, then closes the connection; without a connection, closes at once. */
  async close(): Promise<void> {
    // Commands of this turn go before QUIT, which waits for their replies.
    if (this.queued.length > 0) this.flush();
    // A QUIT sent while disconnected would wait in the offline queue for a reconnect that closing forbids.
    if (!this.client.connected) return void this.client.end(true);
    await new Promise<void>((resolve) => this.client.quit(() => resolve()));
  }

  /** The list holds the session's messages; a system message that opened the session is kept apart, untrimmed. */
  private keys(sessionId: string): { list: string; pinned: string } {
    const base = this.options.keyPrefix + sessionId;
    return { list: `${base}:messages`, pinned: `${base}:system` };
  }

  /**
   * Runs one of this memory's scripts on its two keys and `args` by SHA; a Redis that lacks the script (restarted,
   * or its scripts flushed) answers NOSCRIPT, and it is sent once with its text, which loads it.
   */
  private async run<T = unknown>(script: Script, [list, pinned, ...args]: Array<string | number>): Promise<T> {
    try {
      return await this.command<T>('evalsha', [script.sha, 2, list, pinned, ...args]);
    } catch (error) {
      if (!/NOSCRIPT/.test(describeError(error))) throw error;
      return this.command<T>('eval', [script.text, 2, list, pinned, ...args]);
    }
  }

  /**
   * The commands sent in one turn of the event loop leave as one batch (one write to the socket): a worker
   * finishing many tasks in a turn (the store's moves are batched) loads and appends their sessions with one
   * system call. The batch is written as it is made, so no half-sent pipeline outlives a lost connection.
   */
  private command<T = unknown>(name: string, args: Array<string | number> = []): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.queued.length === 0) setImmediate(() => this.flush());
      this.queued.push([name, ...args, (error: Error | null, reply: T) => (error ? reject(error) : resolve(reply))]);
    });
  }

  private queued: Array<[string, ...unknown[]]> = [];

  private flush(): void {
    const commands = this.queued;
    this.queued = [];
    this.client.batch(commands as Array<Array<string | number>>).exec();
  }

  /** Another program's value under this session's keys makes Redis answer WRONGTYPE: name the keys. */
  private explain(error: unknown, sessionId: string): never {
    if (!/WRONGTYPE/.test(describeError(error))) throw error;
    const { list, pinned } = this.keys(sessionId);
    throw foreignDataError(
      [list, pinned],
      'holds a value of another type than memory-redis writes (a list of messages, a string)',
    );
  }
}
