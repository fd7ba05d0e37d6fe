import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Never answer (for abort tests). */
  hang?: boolean;
}

/**
 * A real OpenAI-compatible HTTP server for tests: answers POST /v1/chat/completions with the scripted answers in
 * order (the last one repeats) and records every request body.
 */
export class ChatServer {
  readonly requests: Array<Record<string, any>> = [];
  private answers: ScriptedAnswer[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
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
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body ?? {}));
  }
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
