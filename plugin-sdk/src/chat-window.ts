import type { ChatMessage } from './extension-points/memory.js';

/** The bounds of what a memory's `load` returns. */
export interface ChatWindowBounds {
  /** Most messages in the window, a pinned system message included. */
  maxMessages: number;
  /** Approximate token budget of the window (see `approximateTokens`). */
  maxTokens: number;
}

/** Rough token count, ceil(characters / 4) over the content and the serialized tool calls. */
export function approximateTokens(message: ChatMessage): number {
  const calls = message.toolCalls ? JSON.stringify(message.toolCalls).length : 0;
  return Math.ceil((message.content.length + calls) / 4);
}

/**
 * The window a memory shows a planner: `pinned` (a system message that led the session) first, even when it alone
 * exceeds the budget, then the newest run of `history` that fits both bounds. The run stops at the first message
 * that does not fit rather than skipping it for older ones, and never starts with tool results whose tool call was
 * cut off (chat APIs refuse such a history). Returns the messages themselves, not copies.
 */
export function fitChatWindow(
  history: readonly ChatMessage[],
  bounds: ChatWindowBounds,
  pinned?: ChatMessage,
): ChatMessage[] {
  let budget = bounds.maxTokens - (pinned ? approximateTokens(pinned) : 0);
  let room = bounds.maxMessages - (pinned ? 1 : 0);
  let start = history.length;
  while (start > 0 && room > 0) {
    const cost = approximateTokens(history[start - 1]!);
    if (cost > budget) break;
    budget -= cost;
    room--;
    start--;
  }
  while (start < history.length && history[start]!.role === 'tool') start++;
  const window = history.slice(start);
  return pinned ? [pinned, ...window] : window;
}
