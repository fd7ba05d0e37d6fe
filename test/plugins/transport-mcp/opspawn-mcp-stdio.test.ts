import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { CLI } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';
import { AGENTS, API_KEYS, KEYS, TASK_TOOLS, TEST_TOOLS, WAIT_LIMIT_MS, mcpClientSpecs } from './mcp-client-suite.js';

/**
 * `opspawn mcp` as a desktop client runs it: a command it launches, speaking MCP on stdio, in front of a running
 * host's REST API. The same specifications as over Streamable HTTP, with the MCP SDK's stdio client.
 */
describe('opspawn mcp (stdio, a client of the REST API)', function () {
  this.timeout(60_000);
  let kernel: TestKernel;
  let url: string;
  const clients: Client[] = [];

  async function connect(key: string | undefined, hostUrl = url, extraArgs: string[] = []): Promise<Client> {
    const client = new Client({ name: 'opspawn-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [
          CLI,
          'mcp',
          '--url',
          hostUrl,
          '--wait-limit',
          String(WAIT_LIMIT_MS),
          ...(key ? ['--token', key] : []),
          ...extraArgs,
        ],
        env: { PATH: process.env.PATH ?? '' },
        stderr: 'pipe',
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
        { use: '@opspawn/transport-rest', options: { port: 0, apiKeys: API_KEYS } },
      ],
      agents: AGENTS,
    });
    url = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await kernel.stop();
  });

  mcpClientSpecs((key) => connect(key));

  it("is refused by the host without a key, or with a key that lacks the call's scope", async () => {
    const anonymous = await connect(undefined);
    // The host refuses it the agents too: the task tools stay listed, and their calls say why.
    expect((await anonymous.listTools()).tools.map((t) => t.name)).to.deep.equal(TASK_TOOLS);
    const refused = await anonymous.callTool({ name: 'list_tasks', arguments: {} });
    expect(refused.isError).to.equal(true);
    expect((refused.structuredContent as any).error.code).to.equal('OPSPAWN_UNAUTHENTICATED');
    const read = (await anonymous
      .readResource({ uri: 'opspawn://tasks/task_00000000000000000000000000' })
      .catch((e: unknown) => e)) as any;
    expect(read.data.code).to.equal('OPSPAWN_UNAUTHENTICATED');
    const reader = await connect(KEYS.reader);
    for (const name of ['submit_task', 'agent_adder']) {
      const forbidden = await reader.callTool({ name, arguments: { goal: 'no' } });
      expect((forbidden.structuredContent as any).error.code).to.equal('OPSPAWN_FORBIDDEN');
    }
  });

  it('with --tools, serves only the tools and agent tools it names', async () => {
    const some = await connect(KEYS.admin, url, ['--tools', 'run_task', 'agent_adder']);
    expect((await some.listTools()).tools.map((t) => t.name)).to.deep.equal(['run_task', 'agent_adder']);
    const every = await connect(KEYS.admin, url, ['--tools', 'get_task', 'agent_*']);
    expect((await every.listTools()).tools.map((t) => t.name)).to.deep.equal([
      'get_task',
      'agent_adder',
      'agent_careful',
      'agent_hidden',
    ]);
  });

  it('says the host is unreachable, and how to fix it, when nothing listens at --url', async () => {
    const lost = await connect(KEYS.admin, 'http://127.0.0.1:9');
    const result = await lost.callTool({ name: 'get_task', arguments: { id: 'task_00000000000000000000000000' } });
    expect((result.structuredContent as any).error.code).to.equal('OPSPAWN_UNREACHABLE');
    expect((result.content[0] as { text: string }).text).to.contain('fix: start the host');
  });

  it('exits when the client closes its stdin', async () => {
    const client = await connect(KEYS.admin);
    const transport = client.transport as StdioClientTransport;
    const pid = transport.pid!;
    await client.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(() => process.kill(pid, 0)).to.throw();
  });

  it('refuses unknown --tools and a --wait-limit that is not a number, before serving anything', async () => {
    for (const [args, message] of [
      [['--tools', 'run_task', 'nope', 'agent_a.b'], 'OPSPAWN_INVALID_REQUEST: --tools names no tool nope, agent_a.b'],
      [['--wait-limit', 'soon'], 'OPSPAWN_INVALID_REQUEST: --wait-limit must be a positive number'],
    ] as const) {
      const failed = (await promisify(execFile)(process.execPath, [CLI, 'mcp', ...args]).catch((e: unknown) => e)) as {
        code: number;
        stderr: string;
      };
      expect(failed.code).to.equal(2);
      expect(failed.stderr).to.contain(message);
    }
  });
});
