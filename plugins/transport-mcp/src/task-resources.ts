import { ErrorCodes, OpspawnError, isFinalStatus, isTaskId, type TaskEvent } from '@opspawn/plugin-sdk';
import type { TaskApi } from './task-api.js';
import { publicTask } from './task-tools.js';

export const TASK_URI_TEMPLATE = 'opspawn://tasks/{id}';
const TASK_URI = /^opspawn:\/\/tasks\/([^/?#]+)$/;
const EVENTS_PAGE = 1000;

export function taskUri(id: string): string {
  return `opspawn://tasks/${id}`;
}

/** The task id of an `opspawn://tasks/{id}` URI; anything else is TASK_NOT_FOUND, as an unknown REST path is. */
export function taskIdOfUri(uri: string): string {
  const id = TASK_URI.exec(uri)?.[1];
  if (!id || !isTaskId(id))
    throw new OpspawnError(ErrorCodes.TASK_NOT_FOUND, `no task resource ${uri.slice(0, 80)}`, {
      hint: `task resources look like ${TASK_URI_TEMPLATE}, with an id such as task_01J...`,
    });
  return id;
}

/** Every event of a task, page by page. */
export async function allEvents(api: TaskApi, id: string): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for (;;) {
    const page = await api.events(id, events.at(-1)?.seq ?? 0, EVENTS_PAGE);
    events.push(...page);
    if (page.length < EVENTS_PAGE) return events;
  }
}

/** The resource's content: the task and its events, as one JSON document. */
export async function readTaskResource(
  api: TaskApi,
  uri: string,
): Promise<{ uri: string; mimeType: string; text: string }> {
  const id = taskIdOfUri(uri);
  const [task, events] = await Promise.all([api.get(id), allEvents(api, id)]);
  return { uri, mimeType: 'application/json', text: JSON.stringify({ task: publicTask(task), events }) };
}

/**
 * The subscriptions of one MCP session: each follows its task's events from the last one there was when it began,
 * and calls `updated` for each new one, until the task's final event, an unsubscribe, or the session's end..
 */
export class TaskSubscriptions {
  private readonly active = new Map<string, AbortController>();

  constructor(
    private readonly api: TaskApi,
    private readonly updated: (uri: string) => Promise<void>,
    private readonly failed: (uri: string, error: unknown) => void,
  ) {}

  async subscribe(uri: string): Promise<void> {
    const id = taskIdOfUri(uri);
    if (this.active.has(uri)) return;
    const last = (await allEvents(this.api, id)).at(-1);
    // A task that has ended changes no more: nothing to follow.
    if (last?.type === 'status' && isFinalStatus(last.data.status)) return;
    const afterSeq = last?.seq ?? 0;
    const stop = new AbortController();
    this.active.set(uri, stop);
    void (async () => {
      try {
        for await (const _event of this.api.watch(id, { afterSeq, signal: stop.signal })) await this.updated(uri);
      } catch (error) {
        if (!stop.signal.aborted) this.failed(uri, error);
      } finally {
        if (this.active.get(uri) === stop) this.active.delete(uri);
      }
    })();
  }

  unsubscribe(uri: string): void {
    this.active.get(uri)?.abort();
    this.active.delete(uri);
  }

  close(): void {
    for (const stop of this.active.values()) stop.abort();
    this.active.clear();
  }
}
