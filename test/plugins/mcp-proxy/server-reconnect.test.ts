import { expect } from 'chai';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { callContext, fixture, proxyOptions, recordingLogger } from './proxy-under-test.js';

describe('mcp-proxy calls while a server reconnects', function () {
  this.timeout(30_000);

  /** A provider whose `moody` server comes back `reconnectDelayMs` after it crashes. */
  async function crashedServer(reconnectDelayMs: number): Promise<McpProxyToolProvider> {
    const proxy = new McpProxyToolProvider(
      proxyOptions(
        { moody: { transport: 'stdio', command: process.execPath, args: [fixture('moody-server.mjs')] } },
        { reconnect: { initialDelayMs: reconnectDelayMs, maxDelayMs: reconnectDelayMs } },
      ),
      recordingLogger(),
    );
    await proxy.start();
    const crashed = await proxy.call('call', { server: 'moody', tool: 'crash' }, callContext());
    expect(crashed.isError).to.equal(true);
    return proxy;
  }

  it('waits for the server to come back and then makes the call', async () => {
    const proxy = await crashedServer(500);
    try {
      const answer = await proxy.call(
        'call',
        { server: 'moody', tool: 'ok', arguments: { text: 'after the crash' } },
        callContext(10_000),
      );
      expect(answer).to.deep.equal({ output: 'ok: after the crash' });
    } finally {
      await proxy.close();
    }
  });

  it('fails with the tool-timeout code when the deadline passes before the server is back', async () => {
    const proxy = await crashedServer(20_000);
    try {
      const answer = await proxy.call(
        'call',
        { server: 'moody', tool: 'ok', arguments: { text: 'too soon' } },
        callContext(300),
      );
      expect(answer.isError).to.equal(true);
      expect(answer.output).to.deep.include({ code: 'OPSPAWN_TOOL_TIMEOUT' });
      expect((answer.output as { message: string }).message).to.match(
        /^MCP server 'moody' did not come back within \d+ ms \(it is down: the server exited with code 1/,
      );
    } finally {
      await proxy.close();
    }
  });
});
