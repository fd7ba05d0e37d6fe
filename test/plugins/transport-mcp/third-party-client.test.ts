import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { REPO } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';
import { API_KEYS, KEYS, TEST_TOOLS } from './mcp-client-suite.js';

const run = promisify(execFile);

/**
 * A client nobody here wrote, in another runtime: curl, speaking the protocol exactly as the spec writes it
 * (initialize, Mcp-Session-Id, MCP-Protocol-Version, SSE answers, DELETE), from a shell script a user could run.
 * The MCP Inspector needs Node 22; this machine has Node 20.
 */
describe('transport-mcp with a third-party client (curl, raw JSON-RPC over Streamable HTTP)', function () {
  this.timeout(60_000);
  let kernel: TestKernel;
  let url: string;

  before(async function () {
    if (!(await run('curl', ['--version']).catch(() => undefined))) this.skip();
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: TEST_TOOLS },
        { use: '@opspawn/transport-mcp', options: { port: 0, apiKeys: API_KEYS } },
      ],
    });
    url = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(() => kernel?.stop());

  it('initializes, lists the tools, runs a task with progress, is refused without a key, and ends the session', async () => {
    const script = join(REPO, 'test/plugins/transport-mcp/fixtures/curl-session.sh');
    const { stdout } = await run('bash', [script, url, KEYS.admin]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).to.match(/^session [0-9a-f-]{36}$/);
    expect(lines.slice(1)).to.deep.equal([
      'initialize "name":"opspawn"',
      'initialized HTTP/1.1 202 Accepted',
      'tools submit_task run_task get_task list_tasks cancel_task ',
      // queued, running, plan, tool_call, tool_result, final, succeeded
      'progress 7',
      'result "status":"succeeded" "output":42',
      'without key 401',
      'after delete 404',
    ]);
  });
});
