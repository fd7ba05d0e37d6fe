import { ErrorCodes, OpspawnError } from './errors.js';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

/**
 * Shared by every store so that cursors mean the same everywhere: a page is "tasks with an id below the
 * cursor's", newest first, and a cursor is opaque to callers.
 */
export function encodeTaskCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ id: lastId }), 'utf8').toString('base64url');
}

/** The id a cursor points below; INVALID_REQUEST for anything this server did not issue. */
export function decodeTaskCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { id?: unknown };
    if (typeof parsed.id === 'string' && parsed.id.length > 0) return parsed.id;
  } catch {
    // reported below
  }
  throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'cursor is not one this server issued', {
    hint: 'pass nextCursor from the previous page unchanged',
    details: [{ path: 'cursor', message: 'invalid cursor' }],
  });
}

/** A page size from a query: default 50, an integer from 1 to 500, INVALID_REQUEST otherwise. */
export function pageLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_LIMIT) {
    throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`, {
      details: [{ path: 'limit', message: `must be 1..${MAX_PAGE_LIMIT}` }],
    });
  }
  return value;
}
