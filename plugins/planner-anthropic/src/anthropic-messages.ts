import type Anthropic from '@anthropic-ai/sdk';
import type { ChatMessage } from '@opspawn/plugin-sdk';
import { wireToolName } from './tool-names.js';

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlockParam = Anthropic.Messages.ContentBlockParam;

/** What a request carries of the session: the system text that memory holds, and the conversation. */
export interface AnthropicConversation {
  /** Text of `system` messages in memory, in order (the planner appends it to its system prompt). */
  system: string[];
  messages: MessageParam[];
}

/**
 * Memory messages as Messages API turns. The API has no `system` or `tool` role and wants user and assistant
 * turns to alternate, starting with the user: a tool result becomes a `tool_result` block of a user turn,
 * consecutive turns of one role are merged into one, and whatever the memory's window cut in two (a result whose
 * call fell out of the window, an assistant turn before the first user turn) is left out, since the API refuses it.
 */
export function toAnthropicConversation(memory: ChatMessage[]): AnthropicConversation {
  const system: string[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  const callIds = new Set<string>();
  /** Adds blocks to the conversation; false when they were left out (an assistant turn before any user turn). */
  const push = (role: 'user' | 'assistant', blocks: ContentBlockParam[]): boolean => {
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else if (role === 'user' || last) turns.push({ role, content: blocks });
    else return false;
    return true;
  };
  for (const m of memory) {
    switch (m.role) {
      case 'system':
        if (m.content) system.push(m.content);
        break;
      case 'assistant': {
        const blocks: ContentBlockParam[] = m.content ? [{ type: 'text', text: m.content }] : [];
        for (const c of m.toolCalls ?? []) {
          blocks.push({ type: 'tool_use', id: c.id, name: wireToolName(c.tool), input: asInput(c.arguments) });
        }
        if (blocks.length > 0 && push('assistant', blocks)) for (const c of m.toolCalls ?? []) callIds.add(c.id);
        break;
      }
      case 'tool':
        if (m.toolCallId && callIds.has(m.toolCallId))
          push('user', [
            { type: 'tool_result', tool_use_id: m.toolCallId, ...(m.content ? { content: m.content } : {}) },
          ]);
        break;
      default:
        if (m.content) push('user', [{ type: 'text', text: m.content }]);
    }
  }
  answerEveryCall(turns);
  return {
    system,
    messages: turns.map((t) => ({
      role: t.role,
      // A lone text block goes as a plain string, as people write requests.
      content: t.content.length === 1 && t.content[0]!.type === 'text' ? t.content[0]!.text : t.content,
    })),
  };
}

/**
 * The API wants every `tool_use` answered by a `tool_result` at the start of the next user turn. A call whose result
 * memory does not hold (an attempt that stopped while its tool ran) gets one saying so, so the model may call again.
 */
function answerEveryCall(turns: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }>): void {
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i]!;
    if (turn.role !== 'assistant') continue;
    const calls = turn.content.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []));
    if (calls.length === 0) continue;
    let next = turns[i + 1];
    if (!next) {
      next = { role: 'user', content: [] };
      turns.push(next);
    }
    const answered = new Set(next.content.flatMap((b) => (b.type === 'tool_result' ? [b.tool_use_id] : [])));
    for (const id of calls)
      if (!answered.has(id))
        next.content.push({ type: 'tool_result', tool_use_id: id, is_error: true, content: 'no result was recorded' });
    next.content.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
  }
}

/** Tool-use input must be an object; arguments that were text (a model's broken JSON) are wrapped. */
function asInput(args: unknown): Record<string, unknown> {
  if (args && typeof args === 'object' && !Array.isArray(args)) return args as Record<string, unknown>;
  return args === undefined || args === null ? {} : { value: args };
}
