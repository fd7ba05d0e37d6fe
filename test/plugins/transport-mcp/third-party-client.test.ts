import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { CLI, REPO } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';
import { API_KEYS, KEYS, TEST_TOOLS } from './mcp-client-suite.js';

const run = promisify(execFile);

/**
 * Clients nobody here wrote, in other runtimes, run as a user would: curl, speaking the protocol exactly as the spec
 * writes it (initialize, Mcp-Session-Id, MCP-Protocol-Version, SSE answers, DELETE) from a shell script; and the
 * official Python SDK over both transports. The MCP Inspector needs Node 22; this machine has Node 20.
 */
describe('transport-mcp with third-party clients', function () {
  this.timeout(60_000);
  let kernel: TestKernel;
  let url: string;
  let restUrl: string;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: TEST_TOOLS },
        { use: '@opspawn/transport-mcp', options: { port: 0, apiKeys: API_KEYS } },
        { use: '@opspawn/transport-rest', options: { port: 0, apiKeys: API_KEYS } },
      ],
    });
    const address = (protocol: string) =>
      kernel
        .get(extensionPoints.transport)
        .find((t) => t.value.protocol === protocol)!
        .value.addresses()[0]!;
    url = address('mcp');
    restUrl = address('http');
  });
  after(() => kernel?.stop());

  it('curl: initializes, lists the tools, runs a task with progress, is refused without a key, and ends the session', async function () {
    if (!(await run('curl', ['--version']).catch(() => undefined))) this.skip();
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

  describe('the official Python SDK (pip install mcp)', () => {
    const script = join(REPO, 'test/plugins/transport-mcp/fixtures/python_client.py');
    const expected = [
      'server opspawn',
      'tools submit_task run_task get_task list_tasks cancel_task',
      'run_task succeeded 42',
      'progress succeeded (attempt 1)',
      'refusal True OPSPAWN_TASK_NOT_FOUND',
      'resource succeeded 7 events',
    ];

    before(async function () {
      // Not a dependency of this repository: where Python or its MCP SDK is missing, say so and skip.
      if (!(await run('python3', ['-c', 'import mcp']).catch(() => undefined))) {
        console.warn('    (skipped: python3 with the mcp package is not installed; pip install mcp)');
        this.skip();
      }
    });

    it('over Streamable HTTP: lists the tools, runs a task with progress, reads its resource', async () => {
      const { stdout } = await run('python3', [script, 'http', url, KEYS.admin]);
      expect(stdout.trim().split('\n')).to.deep.equal(expected);
    });

    it('over stdio, launching opspawn mcp as a desktop client would', async () => {
      const { stdout } = await run('python3', [script, 'stdio', process.execPath, CLI, restUrl, KEYS.admin]);
      expect(stdout.trim().split('\n')).to.deep.equal(expected);
    });
  });
});
