import { createRequire } from 'node:module';
import type BeeQueue from 'bee-queue';
import type { RedisClient } from 'redis';

// A workaround for a behaviour of bee-queue 2.0.0 (lib/queue.js) that shows after Redis restarts. It reaches into a
// queue's internals, so it is kept here, small, and checked by the broker's restart tests. (Workers fetch through
// slot-fetcher.ts, not bee-queue's own fetch loop, whose unbounded retry delay needed a cap too.)

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
  /** Runs a script by SHA on a client, batch or multi. */
  _evalScriptOn(commandable: unknown, args: unknown[]): Promise<unknown>;
  client: RedisClient;
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
