import type { Scope } from '@opspawn/plugin-sdk';

export const TASK_TOOL_NAMES = ['submit_task', 'run_task', 'get_task', 'list_tasks', 'cancel_task'] as const;
export type TaskToolName = (typeof TASK_TOOL_NAMES)[number];

/** Per tool: the scope a key needs to see and call it, or `false` to hide it. */
export type ToolExposure = Partial<Record<TaskToolName, Scope | false>>;

/** The scopes of transport-rest's matching routes: reading needs `read`, changing a task needs `submit`. */
export const DEFAULT_TOOL_SCOPES: Record<TaskToolName, Scope> = {
  submit_task: 'submit',
  run_task: 'submit',
  get_task: 'read',
  list_tasks: 'read',
  cancel_task: 'submit',
};
