import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A content block of a scripted answer; `chunks` are the fragments the stream delivers, in order. */
export type ScriptedBlock =
  | { type: 'text'; chunks: string[] }
  | { type: 'tool_use'; id: string; name: string; chunks: string[] };

export interface ScriptedUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export interface ScriptedAnswer {
  /** An error answer: HTTP status and `{type:'error', error:{type, message}}`. */
  status?: number;
  error?: { type: string; message: string };
  headers?: Record<string, string>;
  blocks?: ScriptedBlock[];
  stopReason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'refusal';
  usage?: ScriptedUsage;
  /** Streams only: an `error` event after the first block has started (as during overload). */
  errorMidStream?: { type: string; message: string };
  /** Streams only: the connection closes after the first block has started, with no error and no message_stop. */
  dropMidStream?: boolean;
  /** Streams only: waits for this before the second delta, so a test can see fragments before the answer ends. */
  holdAfterFirstDelta?: Promise<void>;
  /** Never answer (for abort tests). */
  hang?: boolean;
}

export interface RecordedRequest {
  path: string | undefined;
  headers: IncomingMessage['headers'];
  body: Record<string, any>;
}

export const API_KEY = 'sk-ant-test';

/**
 * A real HTTP server speaking Anthropic's Messages API for tests: POST /v1/messages answered with the scripted
 * answers in order (the last one repeats), as JSON or, for `stream: true`, as the API's server-sent events
 * (message_start, ping, content_block_start/delta/stop, message_delta with usage, message_stop). Like the API it
 * refuses a request without the right key (401) or without `anthropic-version` (400). The key is taken from
 * `x-api-key` (as the API reference shows) or `Authorization: Bearer` (as the official SDK sends an apiKey).
 */
export class MessagesServer {
  readonly requests: RecordedRequest[] = [];
  /** TCP connections accepted so far: a client that reuses its sockets opens no more than it has calls at once. */
  connections = 0;
  private answers: ScriptedAnswer[] = [];
  private server?: Server;
  /** The origin, as planner-anthropic's baseURL takes it (the SDK adds /v1/messages). */
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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
    const body = JSON.parse(raw || '{}');
    this.requests.push({ path: req.url, headers: req.headers, body });
    if (req.method !== 'POST' || req.url !== '/v1/messages')
      return fail(res, 404, { type: 'not_found_error', message: `no route ${req.method} ${req.url}` });
    if (keyOf(req) !== API_KEY) return fail(res, 401, { type: 'authentication_error', message: 'invalid x-api-key' });
    if (!req.headers['anthropic-version'])
      return fail(res, 400, { type: 'invalid_request_error', message: 'anthropic-version header is required' });
    const answer =
      this.answers.length > 1
        ? this.answers.shift()!
        : (this.answers[0] ?? { blocks: [{ type: 'text', chunks: ['ok'] }] });
    if (answer.hang) return;
    if (answer.status && answer.status >= 400)
      return fail(res, answer.status, answer.error ?? { type: 'api_error', message: 'error' }, answer.headers);
    const message = finalMessage(body.model, answer);
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json', ...answer.headers });
      return void res.end(JSON.stringify(message));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...answer.headers });
    const send = (type: string, data: object) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    const usage = message.usage;
    send('message_start', {
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    });
    send('ping', {});
    let deltas = 0;
    for (const [index, block] of (answer.blocks ?? []).entries()) {
      send('content_block_start', {
        index,
        content_block:
          block.type === 'text'
            ? { type: 'text', text: '' }
            : { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      if (answer.errorMidStream) {
        send('error', { error: answer.errorMidStream });
        return void res.end();
      }
      if (answer.dropMidStream) return void res.end();
      for (const chunk of block.chunks) {
        if (deltas++ === 1 && answer.holdAfterFirstDelta) await answer.holdAfterFirstDelta;
        send('content_block_delta', {
          index,
          delta:
            block.type === 'text'
              ? { type: 'text_delta', text: chunk }
              : { type: 'input_json_delta', partial_json: chunk },
        });
      }
      send('content_block_stop', { index });
    }
    send('message_delta', {
      delta: { stop_reason: message.stop_reason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    send('message_stop', {});
    res.end();
  }
}

/** The API key a request carries. */
export function keyOf(req: { headers: IncomingMessage['headers'] }): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') return header;
  return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
}

function fail(
  res: ServerResponse,
  status: number,
  error: { type: string; message: string },
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_test', ...headers });
  res.end(JSON.stringify({ type: 'error', error }));
}

/** The whole message, as the API answers without streaming. */
function finalMessage(model: string, answer: ScriptedAnswer) {
  const blocks = answer.blocks ?? [];
  return {
    id: 'msg_test',
    type: 'message',
    role: 'assistant',
    model,
    content: blocks.map((b) =>
      b.type === 'text'
        ? { type: 'text', text: b.chunks.join('') }
        : { type: 'tool_use', id: b.id, name: b.name, input: parseOr(b.chunks.join('')) },
    ),
    stop_reason: answer.stopReason ?? (blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: {
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      ...(answer.usage ?? { input_tokens: 10, output_tokens: 5 }),
    },
  };
}

/** A text answer in the given fragments. */
export const text = (...chunks: string[]): ScriptedBlock => ({ type: 'text', chunks });
/** A tool use whose input JSON arrives in the given fragments. */
export const toolUse = (id: string, name: string, ...chunks: string[]): ScriptedBlock => ({
  type: 'tool_use',
  id,
  name,
  chunks,
});

function parseOr(json: string): unknown {
  try {
    return JSON.parse(json || '{}');
  } catch {
    return {};
  }
}
