import { ErrorCodes, OpspawnError } from './errors.js';
import type { Task, TaskPage, TaskQuery, TaskStatus } from './task.js';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

/** A list query with its cursor opened: the filters the page applies and the id it continues below. */
export interface ResolvedTaskQuery {
  status?: TaskStatus[];
  labels?: Record<string, string>;
  /** Only the children of this task. */
  parentId?: string;
  limit: number;
  /** Only tasks with an id below this one (the last task of the previous page). */
  before?: string;
}

/** What a cursor carries: where the walk is, and the filters it was issued for. */
interface CursorContent {
  id: string;
  status?: TaskStatus[];
  labels?: Record<string, string>;
  parentId?: string;
}

type Filters = Pick<ResolvedTaskQuery, 'status' | 'labels' | 'parentId'>;

/**
 * Shared by every store so that cursors mean the same everywhere: a page is "tasks with an id below the cursor's",
 * newest first, with the filters of the first page. A cursor carries those filters, so `?cursor=` alone continues
 * the same walk, and the same cursor with other filters is refused rather than answered with another list.
 */
export function resolveTaskQuery(query: TaskQuery): ResolvedTaskQuery {
  const limit = pageLimit(query.limit);
  const filters = normalizeFilters(query.status, query.labels, query.parentId);
  if (query.cursor === undefined) return { ...filters, limit };
  const cursor = decodeCursor(query.cursor);
  const issuedFor = normalizeFilters(cursor.status, cursor.labels, cursor.parentId);
  const given =
    query.status?.length || (query.labels && Object.keys(query.labels).length) || query.parentId !== undefined;
  if (given && JSON.stringify(filters) !== JSON.stringify(issuedFor)) {
    throw new OpspawnError(
      ErrorCodes.INVALID_REQUEST,
      `cursor was issued for other filters (${describeFilters(issuedFor)}) than this request's (${describeFilters(filters)})`,
      {
        hint: 'pass nextCursor alone, or with the same status, label and parent filters as the first page',
        details: [{ path: 'cursor', message: 'issued for other filters' }],
      },
    );
  }
  return { ...issuedFor, limit, before: cursor.id };
}

/** The page answer: `nextCursor` (carrying the query's filters) when `more` tasks follow the last one. */
export function taskPage(tasks: Task[], more: boolean, query: ResolvedTaskQuery): TaskPage {
  if (!more || tasks.length === 0) return { tasks };
  const content: CursorContent = {
    id: tasks[tasks.length - 1]!.id,
    status: query.status,
    labels: query.labels,
    parentId: query.parentId,
  };
  return { tasks, nextCursor: Buffer.from(JSON.stringify(content), 'utf8').toString('base64url') };
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

function decodeCursor(cursor: string): CursorContent {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorContent>;
    const statusOk = parsed.status === undefined || Array.isArray(parsed.status);
    const labelsOk = parsed.labels === undefined || (typeof parsed.labels === 'object' && parsed.labels !== null);
    const parentOk = parsed.parentId === undefined || typeof parsed.parentId === 'string';
    if (typeof parsed.id === 'string' && parsed.id.length > 0 && statusOk && labelsOk && parentOk)
      return parsed as CursorContent;
  } catch {
    // reported below
  }
  throw new OpspawnError(ErrorCodes.INVALID_REQUEST, 'cursor is not one this server issued', {
    hint: 'pass nextCursor from the previous page unchanged',
    details: [{ path: 'cursor', message: 'invalid cursor' }],
  });
}

/** One spelling per filter, so that two equal filters compare equal: statuses sorted, labels by key. */
function normalizeFilters(
  status: TaskStatus[] | undefined,
  labels: Record<string, string> | undefined,
  parentId: string | undefined,
): Filters {
  const out: Filters = {};
  if (status?.length) out.status = [...new Set(status)].sort();
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length) out.labels = Object.fromEntries(keys.map((k) => [k, labels![k]!]));
  if (parentId !== undefined) out.parentId = parentId;
  return out;
}

function describeFilters(filters: Filters): string {
  const parts = [
    ...(filters.status ? [`status=${filters.status.join(',')}`] : []),
    ...Object.entries(filters.labels ?? {}).map(([k, v]) => `label ${k}=${v}`),
    ...(filters.parentId ? [`parentId=${filters.parentId}`] : []),
  ];
  return parts.length ? parts.join(' ') : 'no filter';
}
