import { BoundedMap, fitChatWindow, type ChatMessage, type ChatWindowBounds, type Memory } from '@opspawn/plugin-sdk';

export interface BufferMemoryOptions extends ChatWindowBounds {
  /** Sessions kept; the least recently used is forgotten beyond this. */
  maxSessions: number;
}

/** The configSchema's defaults, for code that builds a memory without the kernel. */
export const BUFFER_MEMORY_DEFAULTS: BufferMemoryOptions = { maxMessages: 50, maxTokens: 8000, maxSessions: 10_000 };

/**
 * Per-session message history in process memory, bounded by a window of messages and approximate tokens.
 * A leading system message is always kept; a window never starts with tool results whose call was cut off
 * (chat APIs refuse that).
 */
export class BufferMemory implements Memory {
  private readonly options: BufferMemoryOptions;
  /** Re-inserting on use makes the oldest key the least recently used, which the map forgets past `maxSessions`. */
  private readonly sessions: BoundedMap<string, ChatMessage[]>;

  constructor(options: Partial<BufferMemoryOptions> = {}) {
    this.options = { ...BUFFER_MEMORY_DEFAULTS, ...options };
    this.sessions = new BoundedMap(this.options.maxSessions);
  }

  async append(sessionId: string, messages: readonly ChatMessage[]): Promise<void> {
    const history = this.touch(sessionId) ?? [];
    history.push(...messages.map(copyData));
    // Keep what a window could ever show, plus a pinned system message.
    const keep = this.options.maxMessages + 1;
    if (history.length > keep * 2) history.splice(history[0]?.role === 'system' ? 1 : 0, history.length - keep);
    this.sessions.set(sessionId, history);
  }

  async load(sessionId: string): Promise<ChatMessage[]> {
    const history = this.touch(sessionId);
    if (!history || history.length === 0) return [];
    const pinned = history[0]!.role === 'system' ? history[0] : undefined;
    return fitChatWindow(pinned ? history.slice(1) : history, this.options, pinned).map(copyData);
  }

  async clear(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  /** Drops every session (on stop). */
  forgetAll(): void {
    this.sessions.clear();
  }

  private touch(sessionId: string): ChatMessage[] | undefined {
    const history = this.sessions.get(sessionId);
    if (history) {
      this.sessions.delete(sessionId);
      this.sessions.set(sessionId, history);
    }
    return history;
  }
}

/**
 * A deep copy of plain data (what messages hold: strings, arrays, plain objects, undefined fields kept), with
 * structuredClone for anything else. A copy is made at each append and load, and structuredClone costs ~5 times
 * as much for a step's few small messages (ADR 0022, round 4).
 */
function copyData<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyData) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyData((value as Record<string, unknown>)[key]);
  return copy as T;
}
