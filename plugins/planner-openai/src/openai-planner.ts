import OpenAI from 'openai';
import {
  ErrorCodes,
  OpspawnError,
  agentOption,
  parseJsonAnswer,
  parseToolArguments,
  type ChatMessage,
  type Logger,
  type PlanDecision,
  type PlanRequest,
  type Planner,
  type TokenUsage,
  type ToolCall,
} from '@opspawn/plugin-sdk';

export interface OpenAIPlannerOptions {
  /** OpenAI-compatible endpoint: OpenAI, OpenRouter, Ollama (`http://127.0.0.1:11434/v1`), vLLM, llama.cpp server. */
  baseURL: string;
  /** Empty for local servers that need none. */
  apiKey: string;
  model: string;
  temperature?: number;
  maxTokens?: number;
  timeoutMs: number;
  /** Retries of 429 and 5xx answers (and connection errors), with backoff honouring Retry-After. */
  maxRetries: number;
  systemPrompt: string;
  /** Extra headers, e.g. OpenRouter's HTTP-Referer and X-Title. */
  headers: Record<string, string>;
  /** Parse a final answer that is a JSON object into an object. */
  jsonOutput: boolean;
  /**
   * Stream each completion (server-sent chunks), so watchers see the answer as it is generated (default true).
   * Turn it off for servers that cannot stream.
   */
  stream?: boolean;
}

export const DEFAULT_SYSTEM_PROMPT =
  "You are an agent that completes the user's goal. Call the available tools when they help; " +
  'when you have the answer, reply with it directly and call no tool.';

type ChatParam = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/**
 * A planner over OpenAI-compatible chat completions with tool calling. Each decision is one request: the system
 * prompt, the session's messages (which hold the goal and earlier tool calls and results), and the tools.
 */
export class OpenAIPlanner implements Planner {
  private readonly client: OpenAI;

  constructor(
    private readonly options: OpenAIPlannerOptions,
    private readonly logger?: Logger,
  ) {
    this.client = new OpenAI({
      baseURL: options.baseURL,
      // Local servers need no key; the SDK insists on one.
      apiKey: options.apiKey || 'not-needed',
      timeout: options.timeoutMs,
      maxRetries: options.maxRetries,
      defaultHeaders: options.headers,
    });
  }

  async plan(request: PlanRequest): Promise<PlanDecision> {
    request.signal.throwIfAborted();
    const toolNames = new Set(request.tools.map((t) => t.name));
    // An agent's options for this planner win over the plugin's own.
    const temperature = agentOption(request, 'temperature', 'number') ?? this.options.temperature;
    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming = {
      model: agentOption(request, 'model', 'string') ?? this.options.model,
      messages: [
        { role: 'system', content: request.agent?.instructions ?? this.options.systemPrompt },
        ...request.messages.map(toChatParam),
      ],
      ...(request.tools.length > 0
        ? {
            tools: request.tools.map((t) => ({
              type: 'function' as const,
              function: { name: t.name, description: t.description, parameters: t.inputSchema },
            })),
          }
        : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(this.options.maxTokens !== undefined ? { max_tokens: this.options.maxTokens } : {}),
    };
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion =
        this.options.stream === false
          ? await this.client.chat.completions.create(body, { signal: request.signal })
          : await this.streamed(body, request);
    } catch (error) {
      request.signal.throwIfAborted();
      const status = (error as { status?: number }).status;
      throw new OpspawnError(
        ErrorCodes.PLANNER_FAILED,
        `chat completion at ${this.options.baseURL} failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`,
        {
          hint:
            status === 401 || status === 403
              ? 'check apiKey'
              : status === 404
                ? 'check baseURL and model'
                : 'check that the server is reachable',
          cause: error,
        },
      );
    }
    // undici returns the connection to its pool only after the answer's end has reached us: a caller that asks again
    // at once (a next step with nothing to wait for between) would open a connection of its own. One turn of the
    // event loop lets the socket go back first, so a task's calls share one connection.
    await new Promise(setImmediate);
    return { ...this.decide(completion, toolNames, request.step), model: body.model };
  }

  /**
   * One completion over a stream: hands each text and tool-argument fragment to `request.onDelta` as it arrives and
   * assembles the chunks into the completion the server would have sent whole (content, tool calls by index with
   * their arguments concatenated, usage when the server sends it).
   */
  private async streamed(
    body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming,
    request: PlanRequest,
  ): Promise<OpenAI.Chat.Completions.ChatCompletion> {
    const stream = await this.client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      { signal: request.signal },
    );
    const { onDelta } = request;
    let content = '';
    let finish: OpenAI.Chat.Completions.ChatCompletion.Choice['finish_reason'] | null = null;
    let sawChoice = false;
    let usage: OpenAI.CompletionUsage | undefined;
    /** By the index the server numbers each call with. */
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      sawChoice = true;
      if (choice.finish_reason) finish = choice.finish_reason;
      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string' && delta.content !== '') {
        content += delta.content;
        onDelta?.({ kind: 'text', text: delta.content });
      }
      for (const part of delta.tool_calls ?? []) {
        const index = Number.isInteger(part.index) ? part.index : calls.size;
        let call = calls.get(index);
        if (!call) {
          call = { id: '', name: '', arguments: '' };
          calls.set(index, call);
        }
        if (part.id && !call.id) call.id = part.id;
        if (part.function?.name && !call.name) call.name = part.function.name;
        const fragment = part.function?.arguments ?? '';
        if (fragment === '') continue;
        call.arguments += fragment;
        onDelta?.({
          kind: 'tool_arguments',
          callId: call.id || `call_${request.step}_${index}`,
          ...(call.name ? { tool: call.name } : {}),
          fragment,
        });
      }
    }
    // The SDK ends an aborted stream quietly: what arrived so far is not an answer.
    request.signal.throwIfAborted();
    const toolCalls = [...calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, c]) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.name, arguments: c.arguments },
      }));
    return {
      id: 'streamed',
      object: 'chat.completion',
      created: 0,
      model: body.model,
      choices: sawChoice
        ? [
            {
              index: 0,
              finish_reason: finish ?? 'stop',
              logprobs: null,
              message: {
                role: 'assistant',
                content,
                refusal: null,
                ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
              },
            },
          ]
        : [],
      ...(usage ? { usage } : {}),
    };
  }

  /** Turns a completion into a decision, defensively: models and servers get tool calls wrong in many ways. */
  decide(completion: OpenAI.Chat.Completions.ChatCompletion, toolNames: Set<string>, step: number): PlanDecision {
    const choice = completion?.choices?.[0];
    if (!choice?.message)
      throw new OpspawnError(ErrorCodes.PLANNER_INVALID_DECISION, 'the model answered with no choices');
    const { message } = choice;
    const content = typeof message.content === 'string' ? message.content : '';
    const rawCalls = (message.tool_calls ?? []).filter(
      (c) => c && (c as { type?: string }).type !== 'custom',
    ) as Array<OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall>;
    if (rawCalls.length === 0) {
      if (!content.trim())
        throw new OpspawnError(
          ErrorCodes.PLANNER_INVALID_DECISION,
          `the model answered with neither content nor tool calls (finish_reason ${choice.finish_reason ?? 'unknown'})`,
        );
      return {
        kind: 'final',
        output: this.options.jsonOutput ? (parseJsonAnswer(content) ?? content) : content,
        ...usageOf(completion),
      };
    }
    const calls: ToolCall[] = rawCalls.map((c, i) => {
      const name = c.function?.name ?? '';
      // An unknown name is passed on: the tool registry answers OPSPAWN_TOOL_NOT_FOUND, which the model then sees.
      if (!toolNames.has(name)) this.logger?.debug({ tool: name }, 'the model called a tool that does not exist');
      return {
        id: c.id || `call_${step}_${i}`,
        tool: name || 'unnamed',
        arguments: parseToolArguments(c.function?.arguments),
      };
    });
    return { kind: 'tools', calls, ...(content ? { thought: content } : {}), ...usageOf(completion) };
  }
}

/** The tokens a completion reports (`usage`), as a decision carries them; nothing when the server sends none. */
export function usageOf(completion: { usage?: OpenAI.CompletionUsage | null }): { usage?: TokenUsage } {
  const u = completion.usage;
  if (!u || !Number.isInteger(u.prompt_tokens) || !Number.isInteger(u.completion_tokens)) return {};
  return {
    usage: {
      inputTokens: Math.max(0, u.prompt_tokens),
      outputTokens: Math.max(0, u.completion_tokens),
      llmCalls: 1,
    },
  };
}

/** A memory message as a chat completions message. */
export function toChatParam(m: ChatMessage): ChatParam {
  switch (m.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content };
    case 'assistant':
      return m.toolCalls?.length
        ? {
            role: 'assistant',
            content: m.content || null,
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.tool, arguments: JSON.stringify(c.arguments ?? {}) },
            })),
          }
        : { role: 'assistant', content: m.content };
    case 'system':
      return { role: 'system', content: m.content };
    default:
      return { role: 'user', content: m.content };
  }
}
