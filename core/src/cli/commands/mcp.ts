import type { Command } from 'commander';
import type { TaskApi } from '@opspawn/transport-mcp';
import {
  ErrorCodes,
  OpspawnError,
  type AgentInfo,
  type SubmitTaskRequest,
  type Task,
  type TaskEvent,
  type TaskPage,
  type TaskQuery,
  type WatchOptions,
} from '@opspawn/plugin-sdk';
import { ApiError, RestClient, type RestClientOptions } from '../../client/rest-client.js';
import { createLogger } from '../../logging/create-logger.js';
import type { GlobalOptions } from '../global-options.js';
import { HOST_URL_HELP, hostUrl } from '../host-url.js';
import { CORE_VERSION } from '../../version.js';

interface McpOptions {
  url?: string;
  token?: string;
  waitLimit: number;
  tools?: string[];
}

/**
 * `opspawn mcp`: an MCP server on stdio, for a desktop client to launch as a command, serving the tools and resources
 * of transport-mcp over a running host's REST API. The host checks the key (`--token`) on every call, so a refused
 * key shows as each call's error, not as a server that fails to start.
 */
export function registerMcpCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('mcp')
    .description('serve the task tools and resources to an MCP client over stdio, as a client of a running host')
    .option('--url <url>', HOST_URL_HELP)
    .option('--token <key>', 'API key (default: $OPSPAWN_TOKEN)')
    .option(
      '--wait-limit <ms>',
      'how long run_task waits for the answer before it returns the task still running',
      (v) => Number(v),
      50_000,
    )
    .option('--tools <names...>', 'expose only these tools: task tools, agent_<id>, agent_* (default: all)')
    .action(async (opts: McpOptions) => {
      const { serveStdio, TASK_TOOL_NAMES } = await loadTransportMcp();
      const unknown = (opts.tools ?? []).filter(
        (name) => !(TASK_TOOL_NAMES as readonly string[]).includes(name) && !AGENT_TOOL.test(name),
      );
      if (unknown.length > 0)
        throw new OpspawnError(ErrorCodes.INVALID_REQUEST, `--tools names no tool ${unknown.join(', ')}`, {
          hint: `name some of ${TASK_TOOL_NAMES.join(', ')}, agent_<id> (one agent's tool) or agent_* (every agent's)`,
        });
      if (!Number.isInteger(opts.waitLimit) || opts.waitLimit < 1)
        throw new OpspawnError(ErrorCodes.INVALID_REQUEST, '--wait-limit must be a positive number of milliseconds', {
          hint: "e.g. --wait-limit 50000 (keep it under your MCP client's request timeout)",
        });
      const api = new RestTaskApi({
        url: await hostUrl({ url: opts.url, config: globals().config }),
        token: opts.token ?? process.env.OPSPAWN_TOKEN,
      });
      const tools = opts.tools ? onlyTools(TASK_TOOL_NAMES, opts.tools) : {};
      // stdout is the protocol's: logs go to stderr, where MCP clients collect a server's messages.
      const logger = createLogger({ level: 'warn', pretty: false, destination: process.stderr });
      await serveStdio({ api, tools, waitLimitMs: opts.waitLimit, version: CORE_VERSION, logger });
    });
}

const AGENT_TOOL = /^agent_(\*|[A-Za-z0-9_-]+)$/;

/**
 * `--tools` as a tool exposure: the task tools not named are hidden, and so are the agent tools unless `agent_*` or
 * their own name is given (the agents are only known once the host answers). Over stdio the host checks the key's
 * scopes, so a shown tool's scope here is only the default.
 */
function onlyTools(taskTools: readonly string[], named: string[]): Record<string, false | 'submit'> {
  return {
    ...Object.fromEntries(taskTools.filter((name) => !named.includes(name)).map((name) => [name, false])),
    'agent_*': named.includes('agent_*') ? 'submit' : false,
    ...Object.fromEntries(
      named.filter((name) => AGENT_TOOL.test(name) && name !== 'agent_*').map((n) => [n, 'submit']),
    ),
  };
}

/** The task API of a host reached over REST: what the MCP tools call when they do not run inside the host. */
class RestTaskApi implements TaskApi {
  private readonly client: RestClient;

  constructor(private readonly options: RestClientOptions) {
    this.client = new RestClient(options);
  }

  async submit(request: SubmitTaskRequest): Promise<{ task: Task }> {
    return { task: await this.client.submit(request) };
  }

  get(id: string): Promise<Task> {
    return this.client.get(id);
  }

  list(query?: TaskQuery): Promise<TaskPage> {
    return this.client.list(query);
  }

  cancel(id: string): Promise<Task> {
    return this.client.cancel(id);
  }

  agents(): Promise<AgentInfo[]> {
    return this.client.agents();
  }

  watch(id: string, options: WatchOptions = {}): AsyncIterable<TaskEvent> {
    return this.client.watch(id, options.afterSeq ?? 0, options.signal);
  }

  /** `GET /v1/tasks/{id}/events` as JSON. On a refusal, `get` of the same task says why with the host's own code. */
  async events(id: string, afterSeq = 0, limit = 500): Promise<TaskEvent[]> {
    const path = `/v1/tasks/${encodeURIComponent(id)}/events?after=${afterSeq}&limit=${limit}`;
    const response = await fetch(new URL(path, this.options.url), {
      headers: {
        accept: 'application/json',
        ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
      },
    }).catch(() => undefined);
    if (response?.ok) return ((await response.json()) as { events: TaskEvent[] }).events;
    await this.client.get(id);
    throw new ApiError(0, ErrorCodes.INTERNAL, `the host refused the events of ${id}`);
  }
}

/** The MCP server is an optional peer of core: a deployment that never speaks MCP does not install it. */
async function loadTransportMcp(): Promise<typeof import('@opspawn/transport-mcp')> {
  try {
    return await import('@opspawn/transport-mcp');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new OpspawnError(ErrorCodes.PLUGIN_NOT_FOUND, 'opspawn mcp needs the package @opspawn/transport-mcp', {
      hint: 'npm install @opspawn/transport-mcp in the deployment',
    });
  }
}
