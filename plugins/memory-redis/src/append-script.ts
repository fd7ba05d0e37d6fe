import { createHash } from 'node:crypto';

/** A Lua script with its SHA1, run by EVALSHA (the script's text is sent only to a Redis that lacks it). */
export interface Script {
  text: string;
  sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

/**
 * Appends one batch to a session as a single atomic step, so batches from concurrent workers never interleave and
 * the list never holds more than the bound, whoever appends.
 *
 * KEYS[1] the session's message list, KEYS[2] its pinned system message.
 * ARGV[1] messages kept, ARGV[2] ttl in seconds (0: none), ARGV[3] '1' when the batch starts with a system
 * message, ARGV[4..] the batch, one JSON message each.
 *
 * A system message that opens an empty session is kept apart (KEYS[2]) so trimming never drops it, as with
 * memory-buffer. A script rather than MULTI because whether the batch opens the session is only known inside
 * Redis. RPUSH takes the batch in slices: Lua's unpack has a stack limit.
 */
export const APPEND_SCRIPT = script(`
local first = 4
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[4])
  first = 5
end
for i = first, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return 1
`);

/**
 * Reads a session as of one moment, even while another worker appends: its pinned system message (nil when it has
 * none) and the last ARGV[1] messages of its list. KEYS as for the append.
 */
export const LOAD_SCRIPT = script(`
return {redis.call('GET', KEYS[2]), redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)}
`);
