import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, OpspawnError } from './errors.js';
import type { Logger } from './logger.js';

export type Scope = 'read' | 'submit' | 'admin';

export interface ApiKeyConfig {
  key: string;
  name: string;
  scopes: Scope[];
}

/**
 * API keys for transports, compared in constant time: both sides are hashed to 32 bytes first, so neither a
 * key's content nor its length leaks through timing, and every configured key is compared on every request.
 */
export class ApiKeys {
  private readonly keys: Array<{ digest: Buffer; name: string; scopes: Set<Scope> }>;

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys
      .filter((k) => k.key.length > 0)
      .map((k) => ({ digest: digest(k.key), name: k.name, scopes: new Set(k.scopes) }));
  }

  /** No keys configured: local-only development mode. */
  get open(): boolean {
    return this.keys.length === 0;
  }

  /**
   * Before a transport listens: with no key configured it may only listen on loopback (local development mode,
   * warned about loudly), unless `allowUnauthenticated` says something else guards the port.
   */
  checkListener(
    listener: { host: string; allowUnauthenticated: boolean; plugin: string; what: string },
    logger: Logger,
  ): void {
    if (!this.open) return;
    const { host, allowUnauthenticated, plugin, what } = listener;
    if (!LOOPBACK.test(host) && !allowUnauthenticated) {
      throw new OpspawnError(
        ErrorCodes.PLUGIN_START_FAILED,
        `no API key is configured and host '${host}' is not a loopback address`,
        {
          hint: `add apiKeys to ${plugin} options, or set allowUnauthenticated: true if something else guards this port`,
          plugin,
        },
      );
    }
    logger.warn(`NO API KEYS CONFIGURED: ${what} accepts every caller on ${host} (local development mode)`);
  }

  identify(presented: string): { name: string; scopes: Set<Scope> } | undefined {
    const d = digest(presented);
    let found: { name: string; scopes: Set<Scope> } | undefined;
    for (const k of this.keys) if (timingSafeEqual(k.digest, d) && !found) found = k;
    return found;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

export function allows(scopes: Set<Scope>, needed: Scope): boolean {
  return scopes.has('admin') || scopes.has(needed);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
