/** The REST API as the page uses it: the key from sessionStorage as `Authorization: Bearer`, problems as errors. */

const KEY = 'opspawn.apiKey';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Called when the API answers 401: the page shows the key form. */
let onUnauthenticated: (error: ApiError) => void = () => undefined;

export function whenUnauthenticated(listener: (error: ApiError) => void): void {
  onUnauthenticated = listener;
}

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = apiKey();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

async function problem(response: Response): Promise<ApiError> {
  let body: { code?: string; detail?: string; title?: string; hint?: string } = {};
  try {
    body = await response.json();
  } catch {
    // not a problem document: keep the status line
  }
  const error = new ApiError(
    response.status,
    body.code ?? `HTTP_${response.status}`,
    body.detail ?? body.title ?? response.statusText,
    body.hint,
  );
  if (response.status === 401) onUnauthenticated(error);
  return error;
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, { headers: headers({ accept: 'application/json' }), signal });
  if (!response.ok) throw await problem(response);
  return (await response.json()) as T;
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', accept: 'application/json' }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await problem(response);
  return (await response.json()) as T;
}

export interface StreamedEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Follows `GET /v1/tasks/{id}/events` as server-sent events through fetch (EventSource cannot send the key), from
 * `after`; yields each frame until the server ends the stream (after the final status) or `signal` aborts.
 */
export async function* streamEvents(taskId: string, after: number, signal: AbortSignal): AsyncGenerator<StreamedEvent> {
  const response = await fetch(`/v1/tasks/${encodeURIComponent(taskId)}/events?after=${after}`, {
    headers: headers({ accept: 'text/event-stream' }),
    signal,
  });
  if (!response.ok || !response.body) throw await problem(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame) yield frame;
      end = buffer.indexOf('\n\n');
    }
  }
}

/** One SSE frame; comments (heartbeats) give nothing. */
function parseFrame(text: string): StreamedEvent | undefined {
  const frame: StreamedEvent = { event: 'message', data: '' };
  const data: string[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') frame.id = value;
    else if (field === 'event') frame.event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return undefined;
  frame.data = data.join('\n');
  return frame;
}
