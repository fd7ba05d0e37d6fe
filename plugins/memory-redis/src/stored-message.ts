import { ErrorCodes, OpspawnError, describeError, type ChatMessage } from '@opspawn/plugin-sdk';

const ROLES = new Set<unknown>(['system', 'user', 'assistant', 'tool']);

/**
 * A message read back from Redis. Anything that is not a chat message (an edited key, another program's data under
 * the same keyPrefix) fails the load naming the key, instead of reaching a planner half-formed.
 */
export function parseStoredMessage(raw: string, key: string, position: string): ChatMessage {
  let message: unknown;
  try {
    message = JSON.parse(raw);
  } catch (error) {
    throw foreignDataError([key], `holds ${position}, which is not JSON (${describeError(error)})`);
  }
  const m = message as Partial<ChatMessage> | null;
  if (typeof m !== 'object' || m === null || !ROLES.has(m.role) || typeof m.content !== 'string') {
    throw foreignDataError([key], `holds ${position}, which is not a chat message with a role and a string content`);
  }
  return m as ChatMessage;
}

/** A session's keys hold something memory-redis did not write: name them and say how to recover. */
export function foreignDataError(keys: readonly string[], what: string): OpspawnError {
  const named = keys.map((k) => `'${k}'`).join(' or ');
  return new OpspawnError(ErrorCodes.TASK_INTERNAL, `memory-redis: Redis key ${named} ${what}`, {
    plugin: 'memory-redis',
    hint: `delete it (DEL ${keys.join(' ')}) to start the session afresh, and use a keyPrefix no other program writes under`,
  });
}
