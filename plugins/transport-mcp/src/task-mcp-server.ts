import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
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
import { agentTools } from './agent-tools.js';
import { toolScope, type ToolExposure } from './task-tool-names.js';
import { TASK_URI_TEMPLATE, TaskSubscriptions, readTaskResource, taskUri } from './task-resources.js';
import { errorAnswer, taskTools, type TaskTool, type ToolAnswer } from './task-tools.js';

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
 * The MCP server of one session, over a task API: the task tools and one tool per agent (`agent_<id>`) that the
 * caller's scopes allow, and the tasks as
 * resources (`opspawn://tasks/{id}`) with subscriptions when it may read. The low-level `Server` rather than
 * `McpServer`: its tools take zod schemas, ours are the SDK's JSON Schemas, validated where every transport
 * validates them (the task service).
 */
export function createTaskMcpServer(options: TaskMcpServerOptions): { server: Server; close(): Promise<void> } {
  const { api, caller, logger } = options;
  const may = (scope: Scope) => !caller || allows(caller.scopes, scope);
  const toolOptions = { waitLimitMs: options.waitLimitMs };
  const fixedTools = taskTools(api, toolOptions);
  /**
   * The tools exposed to this session, agents read at each request (over REST the host may have restarted with other
   * agents). An agent list the host refuses leaves the task tools, whose calls then say why.
   */
  const exposedTools = async (): Promise<Array<{ tool: TaskTool; scope: Scope }>> => {
    const agents = await api.agents().catch((error: unknown) => {
      logger.warn({ err: error }, 'MCP agent tools left out: the agents could not be listed');
      return [];
    });
    return [...fixedTools, ...agentTools(agents, api, toolOptions)]
      .map((tool) => ({ tool, scope: toolScope(options.tools, tool.name) }))
      .filter((t): t is { tool: TaskTool; scope: Scope } => t.scope !== false);
  };
  const canRead = may('read');

  const server = new Server(
    { name: 'opspawn', title: 'Opspawn', version: options.version },
    {
      capabilities: { tools: {}, ...(canRead ? { resources: { subscribe: true } } : {}) },
      instructions:
        'Opspawn runs agent tasks durably. run_task submits a task and waits for its answer (with progress); ' +
        'submit_task returns at once; each agent_<id> tool runs a task of that agent and answers with its output. A task is also the resource opspawn://tasks/{id}: read it for its status and ' +
        'events, subscribe to it for updates.',
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: (await exposedTools())
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
    const found = (await exposedTools()).find((t) => t.tool.name === request.params.name);
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

  const subscriptions = new TaskSubscriptions(
    api,
    (uri) => server.sendResourceUpdated({ uri }),
    (uri, error) => logger.warn({ err: error, uri }, 'MCP resource subscription ended'),
  );
  if (canRead) {
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: [
        {
          uriTemplate: TASK_URI_TEMPLATE,
          name: 'task',
          title: 'An Opspawn task',
          description: 'A task and its events (status changes, plan steps, tool calls and results, logs) as JSON',
          mimeType: 'application/json',
        },
      ],
    }));
    server.setRequestHandler(ListResourcesRequestSchema, (request) =>
      rpc(async () => {
        const page = await api.list({
          limit: 50,
          ...(request.params?.cursor ? { cursor: request.params.cursor } : {}),
        });
        return {
          resources: page.tasks.map((task) => ({
            uri: taskUri(task.id),
            name: task.id,
            title: `${task.status}: ${task.goal.slice(0, 80)}`,
            mimeType: 'application/json',
          })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      }),
    );
    server.setRequestHandler(ReadResourceRequestSchema, (request) =>
      rpc(async () => ({ contents: [await readTaskResource(api, request.params.uri)] })),
    );
    server.setRequestHandler(SubscribeRequestSchema, (request) =>
      rpc(async () => {
        await subscriptions.subscribe(request.params.uri);
        return {};
      }),
    );
    server.setRequestHandler(UnsubscribeRequestSchema, (request) =>
      rpc(async () => {
        subscriptions.unsubscribe(request.params.uri);
        return {};
      }),
    );
  }

  return {
    server,
    close: async () => {
      subscriptions.close();
      await server.close();
    },
  };
}

/** Runs a request handler; an Opspawn refusal becomes a JSON-RPC error carrying its code and fix in `data`. */
async function rpc<T>(handle: () => Promise<T>): Promise<T> {
  try {
    return await handle();
  } catch (error) {
    if (!isOpspawnError(error)) throw error;
    throw new McpError(jsonRpcCodeFor(error.code), error.message, { code: error.code, hint: error.hint });
  }
}

/** The JSON-RPC error code of an Opspawn refusal outside a tool call (resources): the one place MCP decides it. */
export function jsonRpcCodeFor(code: string): number {
  const category = errorCategory(code);
  if (category === 'not_found') return -32002; // the MCP spec's "Resource not found"
  if (category === 'invalid') return ErrorCode.InvalidParams;
  return ErrorCode.InternalError;
}
