import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Never answer (for abort tests). */
  hang?: boolean;
  /**
   * A streamed answer (the request asked `stream: true`) sends its chunks up to the last content or arguments chunk,
   * then waits for this before sending the rest: a test holds the end of the answer until it has seen a delta.
   */
  holdLast?: Promise<unknown>;
  /** A streamed answer waits for this before its first chunk (e.g. until a watcher is listening). */
  holdFirst?: Promise<unknown>;
}

/**
 * A real OpenAI-compatible HTTP server for tests: answers POST /v1/chat/completions with the scripted answers in
 * order (the last one repeats) and records every request body. A request with `stream: true` gets a scripted
 * completion as OpenAI streams it: `chat.completion.chunk` server-sent events, text and arguments in pieces, then
 * (with `stream_options.include_usage`) a usage chunk, then `data: [DONE]`.
 */
export class ChatServer {
  readonly requests: Array<Record<string, any>> = [];
  /** TCP connections accepted so far: a client that reuses its sockets opens no more than it has calls at once. */
  connections = 0;
  private answers: ScriptedAnswer[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  script(...answers: ScriptedAnswer[]): void {
    this.answers = answers;
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    this.requests.push({ path: req.url, auth: req.headers.authorization, body: JSON.parse(raw || '{}') });
    const answer =
      this.answers.length > 1 ? this.answers.shift()! : (this.answers[0] ?? { body: completion({ content: 'ok' }) });
    if (answer.hang) return;
    const body = this.requests.at(-1)!.body;
    const status = answer.status ?? 200;
    if (body.stream !== true || status !== 200) {
      res.writeHead(status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body ?? {}));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...answer.headers });
    const chunks = streamChunks(answer.body as Completion, body.stream_options?.include_usage === true);
    const lastPiece = chunks.findLastIndex((c) => c.choices[0]?.delta.content || c.choices[0]?.delta.tool_calls);
    if (answer.holdFirst) await answer.holdFirst;
    for (const [i, chunk] of chunks.entries()) {
      if (i === lastPiece && answer.holdLast) await answer.holdLast;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }
}

type Completion = ReturnType<typeof completion>;
interface Chunk {
  choices: Array<{ delta: { content?: string | null; tool_calls?: unknown[] } }>;
  [key: string]: unknown;
}

/** Text in pieces of a few characters, as models stream it. */
function pieces(text: string, size = 4): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** A completion as the chunks OpenAI streams for it. */
export function streamChunks(completion: Completion, includeUsage: boolean): Chunk[] {
  const head = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const usageField = includeUsage ? { usage: null } : {};
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): Chunk => ({
    ...head,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...usageField,
  });
  const choice = completion.choices?.[0];
  const chunks: Chunk[] = [];
  if (choice) {
    const { message } = choice;
    chunks.push(chunk({ role: 'assistant', content: '', refusal: null }));
    for (const text of pieces(message.content ?? '')) chunks.push(chunk({ content: text }));
    for (const [index, call] of (message.tool_calls ?? []).entries()) {
      chunks.push(
        chunk({
          tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }],
        }),
      );
      for (const fragment of pieces(call.function.arguments, 5))
        chunks.push(chunk({ tool_calls: [{ index, function: { arguments: fragment } }] }));
    }
    chunks.push(chunk({}, choice.finish_reason));
  }
  if (includeUsage && completion.usage) chunks.push({ ...head, choices: [], usage: completion.usage });
  return chunks;
}

/** A chat completion as OpenAI (and Ollama, llama.cpp, vLLM) send it. */
export function completion(
  message: { content?: string | null; tool_calls?: Array<{ id?: string; name: string; arguments: string }> },
  finish = message.tool_calls ? 'tool_calls' : 'stop',
  usage: { prompt_tokens: number; completion_tokens: number } | null = { prompt_tokens: 10, completion_tokens: 5 },
) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'test-model',
    choices: [
      {
        index: 0,
        finish_reason: finish,
        logprobs: null,
        message: {
          role: 'assistant',
          content: message.content ?? null,
          refusal: null,
          ...(message.tool_calls
            ? {
                tool_calls: message.tool_calls.map((c, i) => ({
                  id: c.id ?? `call_${i}`,
                  type: 'function',
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
        },
      },
    ],
    ...(usage ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } } : {}),
  };
}
