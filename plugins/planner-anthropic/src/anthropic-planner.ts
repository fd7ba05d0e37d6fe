import Anthropic from '@anthropic-ai/sdk';
import {
  ErrorCodes,
  OpspawnError,
  agentOption,
  parseJsonAnswer,
  parseToolArguments,
  type Logger,
  type PlanDecision,
  type PlanRequest,
  type Planner,
  type TokenUsage,
  type ToolCall,
} from '@opspawn/plugin-sdk';
import { toAnthropicConversation } from './anthropic-messages.js';
import { ToolNames } from './tool-names.js';

export interface AnthropicPlannerOptions {
  /** The API's origin, without `/v1` (the SDK adds `/v1/messages`). */
  baseURL: string;
  /** Sent as `x-api-key`; write `${ANTHROPIC_API_KEY}`. */
  apiKey: string;
  model: string;
  temperature?: number;
  /** Most tokens per answer; the Messages API requires it. */
  maxTokens: number;
  timeoutMs: number;
  /** Retries of 408, 409, 429, 5xx and 529 (overloaded) answers and connection errors, honouring Retry-After. */
  maxRetries: number;
  systemPrompt: string;
  /** Extra headers, e.g. `anthropic-beta`. */
  headers: Record<string, string>;
  /** Parse a final answer that is a JSON object into an object. */
  jsonOutput: boolean;
}

export const DEFAULT_SYSTEM_PROMPT =
  "You are an agent that completes the user's goal. Call the available tools when they help; " +
  'when you have the answer, reply with it directly and call no tool.';

/** One content block as the stream delivered it. */
type StreamedBlock = { kind: 'text'; text: string } | { kind: 'tool'; id: string; name: string; json: string };

/** What the stream said so far: the blocks by index, the usage (cumulative), why the model stopped, whether it ended. */
export interface Streamed {
  blocks: Map<number, StreamedBlock>;
  usage: Anthropic.Messages.Usage | undefined;
  stopReason: string | null;
  stopped: boolean;
}

/**
 * A planner over Anthropic's Messages API with tool use. Each decision is one streamed request: the system prompt,
 * the session's messages (the goal, earlier tool calls and their results), and the tools. Text and tool-argument
 * fragments reach `onDelta` as they arrive; the decision is made from the whole message.
 */
export class AnthropicPlanner implements Planner {
  private readonly client: Anthropic;

  constructor(
    private readonly options: AnthropicPlannerOptions,
    private readonly logger?: Logger,
  ) {
    this.client = new Anthropic({
      baseURL: options.baseURL,
      // A missing key is refused in plan(), with a hint, before any request; the placeholder keeps the SDK from
      // looking for credentials of its own (environment, profiles).
      apiKey: options.apiKey || 'not-configured',
      timeout: options.timeoutMs,
      maxRetries: options.maxRetries,
      defaultHeaders: options.headers,
    });
  }

  async plan(request: PlanRequest): Promise<PlanDecision> {
    request.signal.throwIfAborted();
    if (!this.options.apiKey)
      throw new OpspawnError(ErrorCodes.PLANNER_FAILED, 'planner-anthropic has no apiKey', {
        hint: "set the plugin's apiKey option, e.g. apiKey: '${ANTHROPIC_API_KEY}'",
      });
    const names = new ToolNames(request.tools.map((t) => t.name));
    const conversation = toAnthropicConversation(request.messages);
    const instructions = request.agent?.instructions ?? this.options.systemPrompt;
    const temperature = agentOption(request, 'temperature', 'number') ?? this.options.temperature;
    const params: Anthropic.Messages.MessageCreateParamsStreaming = {
      stream: true,
      model: agentOption(request, 'model', 'string') ?? this.options.model,
      max_tokens: agentOption(request, 'maxTokens', 'number') ?? this.options.maxTokens,
      system: [instructions, ...conversation.system].filter(Boolean).join('\n\n'),
      messages: conversation.messages,
      ...(request.tools.length > 0
        ? {
            tools: request.tools.map((t) => ({
              name: names.toWire(t.name),
              description: t.description,
              input_schema: { type: 'object' as const, ...(t.inputSchema as object) },
            })),
          }
        : {}),
      ...(temperature !== undefined ? { temperature } : {}),
    };

    const streamed: Streamed = { blocks: new Map(), usage: undefined, stopReason: null, stopped: false };
    try {
      // The raw event stream rather than the SDK's MessageStream: that one throws on tool input that is not JSON,
      // which a model may send and should hear about from the tool's schema check instead.
      const stream = await this.client.messages.create(params, { signal: request.signal });
      for await (const event of stream) this.follow(event, streamed, names, request);
      // An abort ends the SDK's iteration quietly; what was streamed until then is no decision.
      request.signal.throwIfAborted();
      // So does a connection that closes early: half a message is no decision either.
      if (!streamed.stopped) throw new Error('the stream ended before message_stop');
    } catch (error) {
      request.signal.throwIfAborted();
      throw this.failure(error);
    }
    // undici returns the connection to its pool only after the stream's end has reached us: a next call made at once
    // would open a connection of its own. One turn of the event loop lets the socket go back first.
    await new Promise(setImmediate);
    return { ...this.decide(streamed, names, request.step), model: params.model };
  }

  /** Keeps each block's text or argument JSON, and hands every fragment to the watcher as it comes. */
  private follow(
    event: Anthropic.Messages.RawMessageStreamEvent,
    streamed: Streamed,
    names: ToolNames,
    request: PlanRequest,
  ): void {
    if (event.type === 'message_start') streamed.usage = { ...event.message.usage };
    else if (event.type === 'message_stop') streamed.stopped = true;
    else if (event.type === 'message_delta') {
      streamed.stopReason = event.delta.stop_reason;
      // Output is counted to the end; the other counters are whole-message totals when present.
      const u = event.usage;
      if (streamed.usage) {
        streamed.usage.output_tokens = u.output_tokens;
        if (u.input_tokens != null) streamed.usage.input_tokens = u.input_tokens;
        if (u.cache_creation_input_tokens != null)
          streamed.usage.cache_creation_input_tokens = u.cache_creation_input_tokens;
        if (u.cache_read_input_tokens != null) streamed.usage.cache_read_input_tokens = u.cache_read_input_tokens;
      }
    } else if (event.type === 'content_block_start') {
      const { blocks } = streamed;
      const b = event.content_block;
      if (b.type === 'text') blocks.set(event.index, { kind: 'text', text: b.text ?? '' });
      else if (b.type === 'tool_use') {
        // The start carries the whole input when the server sends no input_json_delta for it.
        const initial = b.input && Object.keys(b.input as object).length > 0 ? JSON.stringify(b.input) : '';
        blocks.set(event.index, { kind: 'tool', id: b.id, name: b.name, json: initial });
      }
    } else if (event.type === 'content_block_delta') {
      const block = streamed.blocks.get(event.index);
      if (event.delta.type === 'text_delta' && block?.kind === 'text') {
        block.text += event.delta.text;
        request.onDelta?.({ kind: 'text', text: event.delta.text });
      } else if (event.delta.type === 'input_json_delta' && block?.kind === 'tool') {
        block.json += event.delta.partial_json;
        request.onDelta?.({
          kind: 'tool_arguments',
          callId: block.id,
          tool: names.fromWire(block.name),
          fragment: event.delta.partial_json,
        });
      }
    }
  }

  /** Turns the streamed message into a decision, defensively: models get tool use wrong in many ways. */
  decide(streamed: Streamed, names: ToolNames, step: number): PlanDecision {
    const blocks = [...streamed.blocks.entries()].sort(([a], [b]) => a - b).map(([, b]) => b);
    const text = blocks
      .flatMap((b) => (b.kind === 'text' ? [b.text] : []))
      .join('')
      .trim();
    const tools = blocks.filter((b): b is Extract<StreamedBlock, { kind: 'tool' }> => b.kind === 'tool');
    const usage = usageOf(streamed);
    if (tools.length === 0) {
      if (!text)
        throw new OpspawnError(
          ErrorCodes.PLANNER_INVALID_DECISION,
          `the model answered with neither text nor tool use (stop_reason ${streamed.stopReason ?? 'unknown'})`,
        );
      return { kind: 'final', output: this.options.jsonOutput ? (parseJsonAnswer(text) ?? text) : text, ...usage };
    }
    if (streamed.stopReason === 'max_tokens')
      throw new OpspawnError(ErrorCodes.PLANNER_INVALID_DECISION, "the model's tool use was cut off at max_tokens", {
        hint: 'raise maxTokens (the plugin option, or the agent option maxTokens)',
      });
    const calls: ToolCall[] = tools.map((b, i) => {
      // An unknown name is passed on: the tool registry answers OPSPAWN_TOOL_NOT_FOUND, which the model then sees.
      if (!names.has(b.name)) this.logger?.debug({ tool: b.name }, 'the model called a tool that does not exist');
      return {
        id: b.id || `toolu_${step}_${i}`,
        tool: names.fromWire(b.name) || 'unnamed',
        arguments: parseToolArguments(b.json),
      };
    });
    return { kind: 'tools', calls, ...(text ? { thought: text } : {}), ...usage };
  }

  private failure(error: unknown): OpspawnError {
    const status = (error as { status?: number }).status;
    const where = `messages at ${this.options.baseURL}`;
    return new OpspawnError(
      ErrorCodes.PLANNER_FAILED,
      `${where} failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`,
      {
        hint:
          status === 401 || status === 403
            ? 'check apiKey'
            : status === 404
              ? 'check baseURL and model'
              : status === 400
                ? 'check model, maxTokens and the tools’ input schemas'
                : status === 429 || status === 529 || (status !== undefined && status >= 500)
                  ? 'the API is busy or overloaded; raise maxRetries or try later'
                  : 'check that the API is reachable',
        cause: error,
      },
    );
  }
}

/**
 * The tokens a message reports, as a decision carries them. Input counts what the model read: uncached input plus
 * what was written to and read from the prompt cache (the API reports the three apart; their sum is the prompt).
 */
export function usageOf(message: { usage?: Anthropic.Messages.Usage | null }): { usage?: TokenUsage } {
  const u = message.usage;
  if (!u || !Number.isInteger(u.input_tokens) || !Number.isInteger(u.output_tokens)) return {};
  const input = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
  return { usage: { inputTokens: Math.max(0, input), outputTokens: Math.max(0, u.output_tokens), llmCalls: 1 } };
}
