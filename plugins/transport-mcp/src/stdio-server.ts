import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from '@opspawn/plugin-sdk';
import type { TaskApi } from './task-api.js';
import type { ToolExposure } from './task-tool-names.js';
import { createTaskMcpServer } from './task-mcp-server.js';

export interface StdioServeOptions {
  api: TaskApi;
  tools?: ToolExposure;
  waitLimitMs?: number;
  version: string;
  logger: Logger;
}

/**
 * Serves the task tools and resources over stdio (what `opspawn mcp` runs): stdout carries only protocol messages.
 * Access is the API's business: over REST, the host checks the key's scopes on every call. Resolves when the client
 * closes the connection.
 */
export async function serveStdio(options: StdioServeOptions): Promise<void> {
  const { server, close } = createTaskMcpServer({
    api: options.api,
    tools: options.tools ?? {},
    waitLimitMs: options.waitLimitMs ?? 50_000,
    version: options.version,
    logger: options.logger,
  });
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  await server.connect(new StdioServerTransport());
  // The SDK's stdio transport does not notice the end of stdin: a client that exits without closing must stop us.
  process.stdin.once('end', () => void server.close());
  await closed;
  await close();
}
