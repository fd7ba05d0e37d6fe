import { expect } from 'chai';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { callContext, fixture, proxyOptions, recordingLogger } from './proxy-under-test.js';

describe("mcp-proxy stdio server's stderr", function () {
  this.timeout(30_000);

  it('reads a server that writes 200 kB to stderr before serving, and logs a bounded part of it tagged with the server', async () => {
    const logger = recordingLogger();
    const proxy = new McpProxyToolProvider(
      proxyOptions({
        noisy: {
          transport: 'stdio',
          command: '/bin/sh',
          args: [
            fixture('talks-on-stderr.sh'),
            'noisy',
            String(200 * 1024),
            process.execPath,
            fixture('moody-server.mjs'),
          ],
        },
      }),
      logger,
    );
    try {
      await proxy.start();
      const answer = await proxy.call(
        'call',
        { server: 'noisy', tool: 'ok', arguments: { text: 'hi' } },
        callContext(),
      );
      expect(answer).to.deep.equal({ output: 'ok: hi' });
    } finally {
      await proxy.close();
    }
    const stderrLines = logger.lines.filter((l) => l.fields.server === 'noisy' && l.fields.stream === 'stderr');
    expect(stderrLines[0].message).to.match(/^warming cache, line 1 \.+$/);
    expect(stderrLines.length).to.be.below(100);
    const summary = stderrLines.at(-1)!;
    expect(summary.message).to.match(
      /^MCP server 'noisy' wrote \d+ more stderr lines within 10 s; they were not logged$/,
    );
  });

  it('puts the last stderr lines of a server that exits at start into its error', async () => {
    const logger = recordingLogger();
    const proxy = new McpProxyToolProvider(
      proxyOptions(
        { search: { transport: 'stdio', command: '/bin/sh', args: [fixture('talks-on-stderr.sh'), 'broken'] } },
        { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } },
      ),
      logger,
    );
    try {
      await proxy.start();
      const call = await proxy.call('call', { server: 'search', tool: 'query' }, callContext());
      expect(call.output).to.deep.equal({
        code: 'OPSPAWN_TOOL_FAILED',
        message:
          "MCP server 'search' is down: the server exited with code 1 before it was ready; its last stderr lines: loading config from /etc/search.json | fatal: SEARCH_API_KEY is not set",
      });
      expect(proxy.health().detail).to.contain('fatal: SEARCH_API_KEY is not set');
      const warning = logger.lines.find((l) => l.level === 'warn' && l.fields.server === 'search');
      expect(warning?.fields.err).to.contain('fatal: SEARCH_API_KEY is not set');
    } finally {
      await proxy.close();
    }
  });
});
