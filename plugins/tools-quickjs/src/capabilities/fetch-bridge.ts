import type { FetchGrant } from '../options.js';

/** What a guest asks for; built by the guest's `fetch` wrapper, so every field is re-checked here. */
export interface GuestRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

export interface GuestResponse {
  url: string;
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
// Headers a guest may not set: they would let it speak for the host or smuggle a second request.
const REFUSED_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'te',
  'trailer',
  'keep-alive',
]);

export class FetchRefused extends Error {
  override readonly name = 'FetchRefused';
}

/** True when `url`'s host matches an entry of `allowHosts` (`host`, `host:port` or `*.domain`). */
export function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowHosts.some((raw) => {
    const entry = parseHostEntry(raw.toLowerCase().trim());
    if (entry.port !== undefined && entry.port !== port) return false;
    if (entry.host.startsWith('*.')) return hostname.endsWith(entry.host.slice(1));
    return hostname === entry.host;
  });
}

function parseHostEntry(entry: string): { host: string; port?: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] };
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (withPort) return { host: withPort[1]!, port: withPort[2] };
  return { host: entry };
}

function checkUrl(raw: string, grant: FetchGrant): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchRefused(`fetch refused: '${raw}' is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new FetchRefused(`fetch refused: only http and https URLs are allowed, not ${url.protocol}`);
  if (url.username || url.password) throw new FetchRefused('fetch refused: URLs with credentials are not allowed');
  if (!hostAllowed(url, grant.allowHosts)) {
    throw new FetchRefused(
      `fetch refused: host '${url.host}' is not in capabilities.fetch.allowHosts (${grant.allowHosts.join(', ') || 'empty'})`,
    );
  }
  return url;
}

/** Reads at most `max` bytes of a body, refusing the response when there are more. */
async function readCapped(response: Response, max: number, url: URL): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new FetchRefused(`fetch refused: the response from ${url.host} is larger than maxResponseBytes (${max})`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The host side of the guest's `fetch`: only listed hosts (checked again on every redirect), only granted
 * methods, a time limit and a response-size cap. Cookies and credentials are never added by the host.
 */
export async function performFetch(
  request: GuestRequest,
  grant: FetchGrant,
  signal: AbortSignal,
): Promise<GuestResponse> {
  const method = String(request.method).toUpperCase();
  if (!grant.methods.map((m) => m.toUpperCase()).includes(method)) {
    throw new FetchRefused(
      `fetch refused: method ${method} is not in capabilities.fetch.methods (${grant.methods.join(', ')})`,
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (REFUSED_HEADERS.has(name.toLowerCase()))
      throw new FetchRefused(`fetch refused: header '${name}' may not be set by a tool`);
    headers[name] = String(value);
  }
  const body = request.body === null || request.body === undefined ? undefined : String(request.body);
  if (body !== undefined && Buffer.byteLength(body) > MAX_REQUEST_BODY_BYTES)
    throw new FetchRefused(`fetch refused: request body over ${MAX_REQUEST_BODY_BYTES} bytes`);
  const timeout = AbortSignal.timeout(grant.timeoutMs);
  const combined = AbortSignal.any([signal, timeout]);
  let url = checkUrl(String(request.url), grant);
  let currentMethod = method;
  let currentBody = body;
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, {
        method: currentMethod,
        headers,
        body: currentBody,
        redirect: 'manual',
        signal: combined,
        credentials: 'omit',
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw new FetchRefused(`fetch refused: more than ${MAX_REDIRECTS} redirects`);
        url = checkUrl(new URL(location, url).href, grant);
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && currentMethod === 'POST')
        ) {
          currentMethod = 'GET';
          currentBody = undefined;
        }
        continue;
      }
      const text = await readCapped(response, grant.maxResponseBytes, url);
      return {
        url: url.href,
        status: response.status,
        statusText: response.statusText,
        headers: Object.fromEntries(response.headers),
        body: text,
      };
    }
  } catch (error) {
    if (error instanceof FetchRefused) throw error;
    if (timeout.aborted)
      throw new FetchRefused(`fetch failed: ${url.host} did not answer within ${grant.timeoutMs} ms`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`fetch failed: ${url.host}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}
