import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { expect } from 'chai';
import { z } from 'zod';
import { services, type ToolCallContext } from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';
import { McpProxyToolProvider, type McpProxyOptions } from '@opspawn/mcp-proxy';
import { REPO } from '../../helpers/deployment.js';
import { silentLogger as silent } from '../../helpers/silent-logger.js';

const EVERYTHING = join(REPO, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const FILESYSTEM = join(REPO, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const MOODY = fileURLToPath(new URL('./fixtures/moody-server.mjs', import.meta.url));

const ctx = (ms = 5000, signal = new AbortController().signal): ToolCallContext => ({
  signal,
  deadline: Date.now() + ms,
  log: () => undefined,
});

/** A streamable-HTTP MCP server on 127.0.0.1 (stateless: a server per request). */
async function httpServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const http: Server = createServer(async (req, res) => {
    const mcp = new McpServer({ name: 'http-test', version: '1.0.0' });
    mcp.registerTool('shout', { description: 'upper-cases', inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text: text.toUpperCase() }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await mcp.connect(transport);
    let body = '';
    for await (const chunk of req) body += chunk;
    await transport.handleRequest(req, res, body ? JSON.parse(body) : undefined);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}

function options(servers: McpProxyOptions['servers'], extra: Partial<McpProxyOptions> = {}): McpProxyOptions {
  return {
    namespace: 'mcp',
    servers,
    callTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    stopTimeoutMs: 2000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    ...extra,
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('mcp-proxy', function () {
  this.timeout(60_000);
  let dir: string;
  let http: Awaited<ReturnType<typeof httpServer>>;
  let proxy: McpProxyToolProvider;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opspawn-mcp-'));
    writeFileSync(join(dir, 'notes.txt'), 'remember the milk');
    http = await httpServer();
    proxy = new McpProxyToolProvider(
      options({
        everything: { transport: 'stdio', command: process.execPath, args: [EVERYTHING], exposeTools: true },
        files: { transport: 'stdio', command: process.execPath, args: [FILESYSTEM, dir] },
        web: { transport: 'http', url: http.url, exposeTools: true },
        moody: { transport: 'stdio', command: process.execPath, args: [MOODY], callTimeoutMs: 400 },
        missing: { transport: 'stdio', command: '/nonexistent/mcp-server' },
      }),
      silent as never,
    );
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    await http.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls tools of real servers over stdio and streamable HTTP through the proxy tool', async () => {
    expect(
      await proxy.call('call', { server: 'everything', tool: 'echo', arguments: { message: 'hi' } }, ctx()),
    ).to.deep.equal({ output: 'Echo: hi' });
    expect(
      await proxy.call('call', { server: 'web', tool: 'shout', arguments: { text: 'quiet' } }, ctx()),
    ).to.deep.equal({ output: 'QUIET' });
    const read = await proxy.call(
      'call',
      { server: 'files', tool: 'read_text_file', arguments: { path: join(dir, 'notes.txt') } },
      ctx(),
    );
    expect(JSON.stringify(read.output)).to.contain('remember the milk');
  });

  it('offers exposed servers as first-class tools with their schemas, and lists every server with its state', async () => {
    const names = (await proxy.list()).map((t) => t.name);
    expect(names).to.include.members(['call', 'list', 'read_resource', 'everything_echo', 'web_shout']);
    expect(names.some((n) => n.startsWith('files_'))).to.equal(false);
    const echo = (await proxy.list()).find((t) => t.name === 'everything_echo')!;
    expect((echo.inputSchema as { properties: Record<string, unknown> }).properties).to.have.property('message');
    expect(await proxy.call('web_shout', { text: 'direct' }, ctx())).to.deep.equal({ output: 'DIRECT' });
    const listing = (await proxy.call('list', {}, ctx())).output as Array<{ server: string; state: string }>;
    expect(listing.map((s) => [s.server, s.state])).to.deep.include.members([
      ['everything', 'ready'],
      ['web', 'ready'],
      ['missing', 'down'],
    ]);
  });

  it('keeps the other servers when one cannot start, and says so in health', async () => {
    const missing = await proxy.call('call', { server: 'missing', tool: 'x' }, ctx());
    expect(missing.isError).to.equal(true);
    expect((missing.output as { message: string }).message).to.match(/MCP server 'missing' is (down|connecting)/);
    const health = proxy.health();
    expect(health.state).to.equal('degraded');
    expect(health.detail).to.contain('missing: down');
  });

  it('turns an isError result into a failed observation', async () => {
    expect(await proxy.call('call', { server: 'moody', tool: 'fail' }, ctx())).to.deep.equal({
      isError: true,
      output: { code: 'OPSPAWN_TOOL_FAILED', message: 'the weather service is down' },
    });
  });

  it('ends a call to a server that never answers at its deadline, and sooner when cancelled', async () => {
    const late = await proxy.call('call', { server: 'moody', tool: 'hang' }, ctx());
    expect(late).to.deep.include({ isError: true });
    expect((late.output as { code: string }).code).to.equal('OPSPAWN_TOOL_TIMEOUT');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const cancelled = await proxy.call('call', { server: 'moody', tool: 'hang' }, ctx(60_000, controller.signal));
    expect((cancelled.output as { code: string }).code).to.equal('OPSPAWN_TASK_CANCELLED');
  });

  it('fails a call cleanly when its server crashes mid-call, then reconnects the server', async () => {
    const crashed = await proxy.call('call', { server: 'moody', tool: 'crash' }, ctx(10_000));
    expect(crashed.isError).to.equal(true);
    expect(
      await proxy.call('call', { server: 'everything', tool: 'echo', arguments: { message: 'still here' } }, ctx()),
    ).to.deep.equal({ output: 'Echo: still here' });
    await until(
      async () =>
        !(await proxy.call('call', { server: 'moody', tool: 'ok', arguments: { text: 'back' } }, ctx())).isError,
      'moody to come back',
    );
    expect(await proxy.call('call', { server: 'moody', tool: 'ok', arguments: { text: 'back' } }, ctx())).to.deep.equal(
      { output: 'ok: back' },
    );
  });

  it('follows tools/list_changed and tells its listeners', async () => {
    let changes = 0;
    const off = proxy.onChange(() => changes++);
    await proxy.call('call', { server: 'moody', tool: 'grow' }, ctx());
    await until(() => changes > 0, 'a change notification');
    const listing = (await proxy.call('list', {}, ctx())).output as Array<{
      server: string;
      tools: Array<{ name: string }>;
    }>;
    expect(listing.find((s) => s.server === 'moody')!.tools.map((t) => t.name)).to.include('grown');
    off();
  });

  it('reads resources', async () => {
    const result = await proxy.call(
      'read_resource',
      { server: 'everything', uri: 'demo://resource/static/document/architecture.md' },
      ctx(),
    );
    expect(result.isError).to.equal(undefined);
    expect(JSON.stringify(result.output)).to.contain('demo://resource/static/document/architecture.md');
  });
});

describe('an embedded task calling a QuickJS tool and an MCP tool', function () {
  this.timeout(60_000);
  it('runs both through the scripted planner on the default plugins', async () => {
    const kernel = await startTestKernel({
      plugins: [
        { use: '@opspawn/store-sqlite', options: { path: ':memory:' } },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        { use: '@opspawn/tools-quickjs', options: { dirs: [join(REPO, 'config/tools')], watch: false } },
        {
          use: '@opspawn/mcp-proxy',
          options: { servers: { everything: { transport: 'stdio', command: process.execPath, args: [EVERYTHING] } } },
        },
      ],
    });
    const tasks = kernel.get(services.taskService);
    const { task } = await tasks.submit({
      goal: 'compute, then echo through MCP',
      input: {
        plan: [
          { tool: 'js__calculate', arguments: { expression: '6 * 7' } },
          {
            tool: 'mcp__call',
            arguments: {
              server: 'everything',
              tool: 'echo',
              arguments: { message: 'answer {{ steps[0].output.value }}' },
            },
          },
        ],
      },
    });
    for await (const e of tasks.watch(task.id)) void e;
    const done = await tasks.get(task.id);
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.equal('Echo: answer 42');
    await kernel.stop();
  });
});
