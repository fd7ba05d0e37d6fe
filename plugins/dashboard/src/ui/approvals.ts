import type { Child } from './dom.js';
import type { Task, TaskEvent } from './types.js';

/**
 * The place for approve and reject buttons (issue 15: a task waiting for a person's approval of a tool call,
 * `POST /v1/tasks/{id}/approvals/{callId}`). The task view calls it after every event with the task and its events;
 * until approvals exist it shows nothing. See docs/decisions/0019-dashboard.md.
 */
export function approvalControls(_task: Task, _events: readonly TaskEvent[]): Child {
  return null;
}
