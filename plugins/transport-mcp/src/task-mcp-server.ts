import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import {
  ErrorCodes,
  OpspawnError,
  allows,
  errorCategory,
  isOpspawnError,
  isServerSideCategory,
  type Logger,
  type Scope,
} from '@opspawn/plugin-sdk';
import type { TaskApi } from './task-api.js';
import { DEFAULT_TOOL_SCOPES, type ToolExposure } from './task-tool-names.js';
import { errorAnswer, taskTools, type ToolAnswer } from './task-tools.js';

export interface TaskMcpServerOptions {
  api: TaskApi;
  /** The caller's key: its name (for messages) and scopes; `undefined` serves everything (no keys configured). */
  caller?: { name: string; scopes: Set<Scope> };
  tools: ToolExposure;
  waitLimitMs: number;
  version: string;
  logger: Logger;
}

/**
 * The MCP server of one session, over a task API: the task tools the caller's scopes allow. The low-level `Server` rather than
 * `McpServer`: its tools take zod schemas, ours are the SDK's JSON Schemas, validated where every transport
 * validates them (the task service).
 */
export function createTaskMcpServer(options: TaskMcpServerOptions): { server: Server; close(): Promise<void> } {
  const { api, caller, logger } = options;
  const may = (scope: Scope) => !caller || allows(caller.scopes, scope);
  const tools = taskTools(api, { waitLimitMs: options.waitLimitMs })
    .map((tool) => ({ tool, scope: options.tools[tool.name] ?? DEFAULT_TOOL_SCOPES[tool.name] }))
    .filter((t): t is { tool: (typeof t)['tool']; scope: Scope } => t.scope !== false);

  const server = new Server(
    { name: 'opspawn', title: 'Opspawn', version: options.version },
    {
      capabilities: { tools: {} },
      instructions:
        'Opspawn runs agent tasks durably. run_task submits a task and waits for its answer (with progress); ' +
        'submit_task returns at once; get_task follows it.',
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools
      .filter((t) => may(t.scope))
      .map(({ tool }) => ({
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema as { type: 'object' },
        outputSchema: tool.outputSchema as { type: 'object' },
        annotations: { title: tool.title, ...tool.annotations },
      })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const found = tools.find((t) => t.tool.name === request.params.name);
    if (!found) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    const progressToken = request.params._meta?.progressToken;
    let answer: ToolAnswer;
    try {
      if (!may(found.scope))
        throw new OpspawnError(ErrorCodes.FORBIDDEN, `API key '${caller?.name}' lacks the '${found.scope}' scope`);
      answer = await found.tool.call(request.params.arguments ?? {}, {
        signal: extra.signal,
        progress: async (progress, message) => {
          if (progressToken === undefined) return;
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, message },
          });
        },
      });
    } catch (error) {
      if (!isOpspawnError(error) || isServerSideCategory(errorCategory(error.code)))
        logger.error({ err: error, tool: found.tool.name }, 'MCP tool call failed');
      answer = errorAnswer(error);
    }
    return {
      content: [{ type: 'text', text: answer.text }],
      structuredContent: answer.structured,
      ...(answer.isError ? { isError: true } : {}),
    };
  });

  return {
    server,
    close: async () => {
      await server.close();
    },
  };
}
