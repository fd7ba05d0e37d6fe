import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';
import { AGENTS, API_KEYS, KEYS, TASK_TOOLS, TEST_TOOLS, WAIT_LIMIT_MS, mcpClientSpecs } from './mcp-client-suite.js';

/** The plugin over Streamable HTTP, with the MCP SDK's own client, as an IDE or another agent would connect. */
describe('transport-mcp (Streamable HTTP)', function () {
  let kernel: TestKernel;
  let url: string;
  const clients: Client[] = [];

  async function connect(key: string | undefined): Promise<Client> {
    const client = new Client({ name: 'opspawn-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: key ? { authorization: `Bearer ${key}` } : {} },
      }),
    );
    clients.push(client);
    return client;
  }

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: TEST_TOOLS },
        {
          use: '@opspawn/transport-mcp',
          options: {
            port: 0,
            waitLimitMs: WAIT_LIMIT_MS,
            apiKeys: API_KEYS,
            tools: { list_tasks: 'read', agent_hidden: false },
          },
        },
      ],
      agents: AGENTS,
    });
    url = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await kernel.stop();
  });

  it('listens on its own port at /mcp', () => {
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  mcpClientSpecs(connect);

  it('refuses a client without a key, or with an unknown one, with 401 and the code', async () => {
    for (const key of [undefined, 'not-a-key']) {
      const error = (await connect(key).catch((e: unknown) => e)) as Error;
      expect(error).to.be.instanceOf(Error);
      expect((error as { code?: number }).code).to.equal(401);
      expect(error.message).to.contain('OPSPAWN_UNAUTHENTICATED');
    }
  });

  it('does not list an agent the tools option hides, and answers a call to it as an unknown tool', async () => {
    const admin = await connect(KEYS.admin);
    expect((await admin.listTools()).tools.map((t) => t.name)).to.deep.equal([
      ...TASK_TOOLS,
      'agent_adder',
      'agent_careful',
    ]);
    const error = (await admin
      .callTool({ name: 'agent_hidden', arguments: { goal: 'no' } })
      .catch((e: unknown) => e)) as Error;
    expect(error.message).to.contain('Unknown tool: agent_hidden');
  });

  it('shows a read-only key only the reading tools (no agent tools), and refuses the others with FORBIDDEN', async () => {
    const reader = await connect(KEYS.reader);
    expect((await reader.listTools()).tools.map((t) => t.name)).to.deep.equal(['get_task', 'list_tasks']);
    for (const name of ['submit_task', 'agent_adder']) {
      const refused = await reader.callTool({ name, arguments: { goal: 'no' } });
      expect(refused.isError).to.equal(true);
      expect((refused.structuredContent as any).error.code).to.equal('OPSPAWN_FORBIDDEN');
    }
    expect((await reader.listResourceTemplates()).resourceTemplates).to.have.length(1);
  });

  it('answers 404 for an unknown session, so clients start a new one', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEYS.admin}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'no-such-session',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(response.status).to.equal(404);
    const body = (await response.json()) as any;
    expect(body.error).to.deep.include({ code: -32001 });
    expect(body.error.data.code).to.equal('OPSPAWN_MCP_SESSION_NOT_FOUND');
  });

  it("refuses a session used with another key, and a browser page from an origin it doesn't know", async () => {
    const admin = await connect(KEYS.admin);
    const sessionId = (admin.transport as StreamableHTTPClientTransport).sessionId!;
    const borrowed = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEYS.reader}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(borrowed.status).to.equal(403);
    const foreign = await fetch(url, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(foreign.status).to.equal(403);
  });

  it('ends a session on DELETE', async () => {
    const client = await connect(KEYS.admin);
    const transport = client.transport as StreamableHTTPClientTransport;
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    const after = await fetch(url, {
      method: 'GET',
      headers: { authorization: `Bearer ${KEYS.admin}`, accept: 'text/event-stream', 'mcp-session-id': sessionId },
    });
    expect(after.status).to.equal(404);
  });

  it('resumes a broken answer stream from Last-Event-ID: the rest of the progress and the result are replayed', async () => {
    const headers = {
      authorization: `Bearer ${KEYS.admin}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const init = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const session = {
      ...headers,
      'mcp-session-id': init.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-06-18',
    };
    await init.text();
    await fetch(url, {
      method: 'POST',
      headers: session,
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    });
    const call = new AbortController();
    const answer = await fetch(url, {
      method: 'POST',
      headers: session,
      signal: call.signal,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: {
          name: 'run_task',
          _meta: { progressToken: 'p' },
          arguments: { goal: 'wait', input: { plan: [{ tool: 't__wait', arguments: { ms: 500 } }] } },
        },
      }),
    });
    // Read up to the first event, then drop the connection, as a flaky network would.
    const reader = answer.body!.getReader();
    let first = '';
    while (!/^id: (.+)$/m.test(first)) first += new TextDecoder().decode((await reader.read()).value);
    const lastEventId = /^id: (.+)$/m.exec(first)![1]!;
    call.abort();
    // A client reconnects after a pause (the SSE retry interval); the host has noticed the broken stream by then.
    await new Promise((r) => setTimeout(r, 200));
    const resumed = await fetch(url, {
      headers: { ...session, accept: 'text/event-stream', 'last-event-id': lastEventId },
    });
    expect(resumed.status).to.equal(200);
    const replay = resumed.body!.getReader();
    let rest = '';
    while (!rest.includes('"id":2')) rest += new TextDecoder().decode((await replay.read()).value);
    await replay.cancel();
    expect(rest).to.contain('notifications/progress');
    expect(rest).to.match(/"structuredContent":\{"task":\{[\s\S]*"status":"succeeded"/);
  });
});

describe('transport-mcp sessions', function () {
  let kernel: TestKernel;
  let url: string;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/transport-mcp', options: { port: 0, apiKeys: API_KEYS, sessionIdleMs: 1000 } },
      ],
    });
    url = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(() => kernel.stop());

  it('closes a session left without requests or streams for sessionIdleMs; the client then gets 404', async () => {
    const headers = {
      authorization: `Bearer ${KEYS.admin}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const init = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    const list = () =>
      fetch(url, {
        method: 'POST',
        headers: { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
    const soon = await list();
    expect(soon.status).to.equal(200);
    await soon.text();
    await new Promise((r) => setTimeout(r, 1800));
    expect((await list()).status).to.equal(404);
  });
});
