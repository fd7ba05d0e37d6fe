export interface ToolCallMessagePart {
  id: string;
  tool: string;
  arguments: unknown;
}

/** A chat message as planners and memories exchange them (OpenAI-like, provider-neutral). */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** On assistant messages that asked for tools. */
  toolCalls?: ToolCallMessagePart[];
  /** On tool messages: the call this answers. */
  toolCallId?: string;
  /** On tool messages: the tool's name. */
  name?: string;
}

/**
 * Per-session message history.
 *
 * Promise: `load` returns the session's most recent messages in order, bounded by the memory's window
 * (a number of messages and an approximate token budget); sessions never see each other's messages.
 */
export interface Memory {
  append(sessionId: string, messages: readonly ChatMessage[]): Promise<void>;
  load(sessionId: string): Promise<ChatMessage[]>;
  clear(sessionId: string): Promise<void>;
}
