import type { SubmitTaskRequest, Task, TaskService } from '@opspawn/plugin-sdk';

/**
 * What the MCP tools and resources need of a host: the kernel's `TaskService` in the plugin, a REST client of a
 * running host in `opspawn mcp` (stdio). `TaskService` satisfies it as it is; `submit` drops `created` because a
 * REST client cannot always tell.
 */
export interface TaskApi extends Pick<TaskService, 'get' | 'list' | 'cancel' | 'events' | 'watch'> {
  submit(request: SubmitTaskRequest): Promise<{ task: Task }>;
}
