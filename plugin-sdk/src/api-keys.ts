import { createHash, timingSafeEqual } from 'node:crypto';

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

  identify(presented: string): { name: string; scopes: Set<Scope> } | undefined {
    const d = digest(presented);
    let found: { name: string; scopes: Set<Scope> } | undefined;
    for (const k of this.keys) if (timingSafeEqual(k.digest, d) && !found) found = k;
    return found;
  }
}

export function allows(scopes: Set<Scope>, needed: Scope): boolean {
  return scopes.has('admin') || scopes.has(needed);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
