import type { AgentInfo, SubmitTaskRequest, Task, TaskService } from '@opspawn/plugin-sdk';

/**
 * What the MCP tools and resources need of a host: the kernel's `TaskService` and `AgentRegistry` in the plugin, a
 * REST client of a running host in `opspawn mcp` (stdio). `submit` drops `created` because a REST client cannot
 * always tell; `agents` is asynchronous for the same reason (`GET /v1/agents`).
 */
export interface TaskApi extends Pick<TaskService, 'get' | 'list' | 'cancel' | 'events' | 'watch'> {
  submit(request: SubmitTaskRequest): Promise<{ task: Task }>;
  /** The deployment's agents, one MCP tool each. */
  agents(): Promise<AgentInfo[]>;
}
