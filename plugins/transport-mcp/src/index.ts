import { readFileSync } from 'node:fs';
import { definePlugin, extensionPoints, services } from '@opspawn/plugin-sdk';
import { McpHttpTransport, type McpTransportOptions } from './mcp-http-server.js';
import type { TaskApi } from './task-api.js';

export { McpHttpTransport, type McpTransportOptions } from './mcp-http-server.js';
export { createTaskMcpServer, type TaskMcpServerOptions } from './task-mcp-server.js';
export { serveStdio, type StdioServeOptions } from './stdio-server.js';
export type { TaskApi } from './task-api.js';
export { TASK_URI_TEMPLATE, taskUri } from './task-resources.js';
export {
  TASK_TOOL_NAMES,
  DEFAULT_TOOL_SCOPES,
  DEFAULT_AGENT_TOOL_SCOPE,
  agentToolName,
  type AgentToolName,
  type TaskToolName,
  type ToolExposure,
} from './task-tool-names.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/transport-mcp': Partial<McpTransportOptions>;
  }
}

export const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export default definePlugin<McpTransportOptions>({
  register(env) {
    env.provide(extensionPoints.transport, {
      deps: { tasks: services.taskService, agents: services.agents },
      async create({ tasks, agents }) {
        const api: TaskApi = {
          submit: (request) => tasks.submit(request),
          get: (id) => tasks.get(id),
          list: (query) => tasks.list(query),
          cancel: (id) => tasks.cancel(id),
          events: (id, afterSeq, limit) => tasks.events(id, afterSeq, limit),
          watch: (id, options) => tasks.watch(id, options),
          agents: async () => agents.list(),
        };
        const transport = new McpHttpTransport(env.options, { api, logger: env.logger, version: VERSION });
        await transport.listen();
        env.logger.info({ addresses: transport.addresses() }, 'MCP listening');
        return transport;
      },
      dispose: (transport) => transport.close(),
    });
  },
});
