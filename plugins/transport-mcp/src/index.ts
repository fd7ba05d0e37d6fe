import { readFileSync } from 'node:fs';
import { definePlugin, extensionPoints, services } from '@opspawn/plugin-sdk';
import { McpHttpTransport, type McpTransportOptions } from './mcp-http-server.js';

export { McpHttpTransport, type McpTransportOptions } from './mcp-http-server.js';
export { createTaskMcpServer, type TaskMcpServerOptions } from './task-mcp-server.js';
export { serveStdio, type StdioServeOptions } from './stdio-server.js';
export type { TaskApi } from './task-api.js';
export { TASK_URI_TEMPLATE, taskUri } from './task-resources.js';
export { TASK_TOOL_NAMES, DEFAULT_TOOL_SCOPES, type TaskToolName, type ToolExposure } from './task-tool-names.js';

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
      deps: { tasks: services.taskService },
      async create({ tasks }) {
        const transport = new McpHttpTransport(env.options, { api: tasks, logger: env.logger, version: VERSION });
        await transport.listen();
        env.logger.info({ addresses: transport.addresses() }, 'MCP listening');
        return transport;
      },
      dispose: (transport) => transport.close(),
    });
  },
});
