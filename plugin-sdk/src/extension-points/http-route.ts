import type { Scope } from '../api-keys.js';

/** Who may call a plugin's route: an API-key scope, or `public` (no key asked, like `/healthz`). */
export type HttpRouteScope = Scope | 'public';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request as a plugin's route sees it: no framework types, so the route does not depend on koa. */
export interface HttpRequest {
  method: HttpMethod;
  /** The path as requested, without the query string. */
  path: string;
  /** The `:name` segments of the route's path. */
  params: Record<string, string>;
  /** Query parameters; a repeated one is an array. */
  query: Record<string, string | string[]>;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body, read once, refused beyond the transport's `maxBodyBytes` (OPSPAWN_BODY_TOO_LARGE). */
  body(): Promise<Uint8Array>;
  /** Aborted when the client goes away (for a streamed response). */
  signal: AbortSignal;
}

/**
 * What a route answers. `body`: a string or bytes are sent as they are (set `content-type` in `headers`); an
 * async iterable is streamed chunk by chunk until it ends or the client leaves; any other value is sent as JSON.
 */
export interface HttpResponse {
  /** 200 unless set. */
  status?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array | AsyncIterable<string | Uint8Array> | Record<string, unknown> | unknown[];
}

export interface HttpRoute {
  method: HttpMethod;
  /** Absolute path under the provider's `prefix`, with `:name` segments, e.g. `/ui/tasks/:id`. */
  path: string;
  scope: HttpRouteScope;
  /** One line for the OpenAPI document the transport serves. */
  summary?: string;
  /**
   * Answers the request. A thrown `OpspawnError` becomes the transport's error (an RFC 9457 problem on REST);
   * anything else thrown is an internal error.
   */
  handle(request: HttpRequest): HttpResponse | Promise<HttpResponse>;
}

/**
 * Routes a plugin serves on the deployment's HTTP port (transport-rest's), behind its API keys and scopes. Any
 * plugin may provide them (the token has no kind). The provider owns `prefix`, a first path segment such as
 * `/metrics` or `/ui`: every route's path equals the prefix or starts with `prefix/`. The transport refuses, at
 * start, a prefix another provider claims or one of its own (`/v1`, `/healthz`, `/readyz`, `/openapi.json`).
 * See docs/decisions/0018-metrics-and-plugin-http-routes.md.
 */
export interface HttpRoutes {
  prefix: string;
  routes: HttpRoute[];
  /**
   * Called by each transport that mounts these routes, with the address it serves them on: lets the provider
   * know it is reachable (or log where).
   */
  mounted?(address: string): void;
}
