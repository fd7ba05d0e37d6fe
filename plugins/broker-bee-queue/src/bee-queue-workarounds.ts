import { createRequire } from 'node:module';
import type BeeQueue from 'bee-queue';
import type { RedisClient } from 'redis';

// Workarounds for two behaviours of bee-queue 2.0.0 (lib/queue.js) that show after Redis restarts. Both reach into
// a queue's internals, so they are kept here, small, and checked by the broker's restart tests.

/** bee-queue's Lua scripts, loaded by SHA; a Redis that restarted empty has none of them. */
const beeQueueScripts = createRequire(import.meta.url)('bee-queue/lib/lua/index.js') as {
  buildCache(client: RedisClient): Promise<unknown>;
};

/** Loads every bee-queue script into the Redis `client` talks to (a no-op for the ones it has). */
export function loadBeeQueueScripts(client: RedisClient): Promise<unknown> {
  return beeQueueScripts.buildCache(client);
}

export function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && /NOSCRIPT/.test(error.message);
}

interface QueueInternals {
  /** Doubled after each failed fetch (BRPOPLPUSH) with no upper bound; reset only when a fetch starts afresh. */
  _redisFailureRetryDelay: number;
  /** Runs a script by SHA on a client, batch or multi. */
  _evalScriptOn(commandable: unknown, args: unknown[]): Promise<unknown>;
  client: RedisClient;
}

/**
 * Caps the wait between a worker queue's failed fetches. bee-queue doubles it on every failure and shares it among
 * the queue's concurrent fetches: an outage of a few seconds drives it past 2^31 ms, where Node fires the timer
 * after 1 ms (a warning each time), and the delays just below that limit are timers of days that keep the
 * process alive after it stopped and leave the queue's slots idle once Redis is back.
 */
export function capFetchRetryDelay(queue: BeeQueue, maxMs: number): void {
  let delay = 0;
  Object.defineProperty(queue as unknown as QueueInternals, '_redisFailureRetryDelay', {
    configurable: true,
    get: () => delay,
    set: (value: number) => {
      delay = Math.min(value, maxMs);
    },
  });
}

/**
 * Makes a queue's script calls on its client survive a Redis that lost its scripts (restarted empty, or SCRIPT
 * FLUSH): on NOSCRIPT, the scripts are loaded again and the call is retried once. node_redis sends the commands
 * queued during an outage before anyone hears that it reconnected, so loading the scripts on reconnect alone
 * leaves those commands failing. Calls on a batch are left alone: the broker's `saveJobs` retries those itself.
 */
export function reloadScriptsOnNoScript(queue: BeeQueue): void {
  const internals = queue as unknown as QueueInternals;
  const evalScriptOn = internals._evalScriptOn.bind(queue);
  internals._evalScriptOn = (commandable, args) => {
    // Untouched for a batch: saveAll reads its jobs' errors right after the batch ran, and a retry would be late.
    if (commandable !== internals.client) return evalScriptOn(commandable, args);
    // bee-queue replaces the name in args[0] with its SHA and appends a callback: keep the original for a retry.
    const original = [...args];
    return evalScriptOn(commandable, args).catch(async (error: unknown) => {
      if (!isNoScriptError(error)) throw error;
      await loadBeeQueueScripts(internals.client);
      return evalScriptOn(commandable, [...original]);
    });
  };
}
