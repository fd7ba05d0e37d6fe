import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ErrorCodes, OpspawnError, redactUrl } from '@opspawn/plugin-sdk';

/** Node socket errors and pg's own messages that mean "the server cannot be reached", not "the query is wrong". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);
const UNREACHABLE_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/i;

/** Whether a pg error says the server is down or unreachable (SQLSTATE class 08, or 57P01-57P03: shut down). */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code)))
    return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionFailure);
  return error instanceof Error && UNREACHABLE_MESSAGE.test(error.message);
}

/**
 * SQLSTATEs of a statement PostgreSQL rolled back whole to break a conflict between transactions: 40P01
 * (deadlock_detected) and 40001 (serialization_failure). Such a statement changed nothing and can run again.
 */
const CONFLICT_CODES = new Set(['40P01', '40001']);

/** How many times a statement rolled back by a conflict runs again before its error reaches the caller. */
const CONFLICT_RETRIES = 4;

function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONFLICT_CODES.has(code);
}

/**
 * A pg.Pool whose queries fail with OPSPAWN_STORE_UNAVAILABLE when PostgreSQL cannot be reached: callers learn to
 * retry later (REST 503, gRPC UNAVAILABLE) instead of meeting what looks like a bug. Other errors pass unchanged.
 */
export class StorePool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    private readonly where: string,
  ) {
    super(config);
  }

  /**
   * A query through the pool is one statement in its own transaction, so one that PostgreSQL rolled back for a
   * deadlock or a serialization failure runs again (up to `CONFLICT_RETRIES` times, after a short random pause so
   * the two sides of the conflict do not meet again) before its error reaches the caller.
   */
  override query(...args: any[]): any {
    const result = pg.Pool.prototype.query.apply(this, args as never) as unknown;
    if (!(result instanceof Promise)) return result;
    return this.retryConflicts(result, args).catch((error: unknown) => {
      if (!isConnectionFailure(error)) throw error;
      throw new OpspawnError(
        ErrorCodes.STORE_UNAVAILABLE,
        `PostgreSQL at ${this.where} cannot be reached: ${(error as Error).message}`,
        {
          plugin: 'store-postgres',
          hint: 'check that PostgreSQL runs and connectionString points at it; the request can be retried',
          cause: error,
        },
      );
    });
  }

  private async retryConflicts(first: Promise<unknown>, args: any[]): Promise<unknown> {
    for (let retry = 0; ; retry++) {
      try {
        return await (retry === 0 ? first : (pg.Pool.prototype.query.apply(this, args as never) as unknown));
      } catch (error) {
        if (retry >= CONFLICT_RETRIES || !isConflict(error)) throw error;
        await sleep(Math.random() * 5 * (retry + 1));
      }
    }
  }
}

export function openStorePool(config: pg.PoolConfig & { connectionString: string }): StorePool {
  return new StorePool(config, redactUrl(config.connectionString));
}
