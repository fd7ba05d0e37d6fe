/**
 * MCP proxy overhead: the same tool (server-everything's `echo` over stdio) called through the mcp-proxy tool
 * provider and through a raw SDK Client, alternating blocks in the same run. Target: under 10% extra.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { REPO } from '../helpers/deployment.js';
import { fmt, summarize } from './stats.js';
import { silentLogger as silent } from '../helpers/silent-logger.js';

const EVERYTHING = join(REPO, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CALLS = 2000;

export default async function bench(): Promise<void> {
  const raw = new Client({ name: 'bench', version: '1.0.0' });
  await raw.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING], stderr: 'ignore' }));
  // A client that wants to call tools lists them first, as the proxy does (the SDK then checks outputs against schemas).
  await raw.listTools();
  const proxy = new McpProxyToolProvider(
    {
      namespace: 'mcp',
      servers: { everything: { transport: 'stdio', command: process.execPath, args: [EVERYTHING] } },
      callTimeoutMs: 10_000,
      connectTimeoutMs: 10_000,
      stopTimeoutMs: 2000,
      reconnect: { initialDelayMs: 500, maxDelayMs: 5000 },
    },
    silent as never,
  );
  await proxy.start();
  // Each call gets its own signal, as the tool registry gives every call.
  const viaRaw = async () => {
    await raw.callTool({ name: 'echo', arguments: { message: 'bench' } });
  };
  const viaProxy = async () => {
    await proxy.call(
      'call',
      { server: 'everything', tool: 'echo', arguments: { message: 'bench' } },
      { signal: new AbortController().signal, deadline: Date.now() + 10_000, log: () => undefined },
    );
  };
  const rawMs: number[] = [];
  const proxyMs: number[] = [];
  for (let i = 0; i < 200; i++) {
    await viaRaw();
    await viaProxy();
  } // warm-up
  // Alternate blocks so both see the same machine load.
  for (let block = 0; block < 20; block++) {
    for (const [fn, out] of [
      [viaRaw, rawMs],
      [viaProxy, proxyMs],
    ] as const) {
      for (let i = 0; i < CALLS / 20; i++) {
        const t0 = performance.now();
        await fn();
        out.push(performance.now() - t0);
      }
    }
  }
  await proxy.close();
  await raw.close();
  const r = summarize(rawMs);
  const p = summarize(proxyMs);
  console.log(`MCP echo over stdio (server-everything), ${CALLS} sequential calls each:`);
  console.log(`  raw SDK client     mean ${fmt(r.mean)}  p50 ${fmt(r.p50)}  p99 ${fmt(r.p99)}`);
  console.log(`  mcp-proxy          mean ${fmt(p.mean)}  p50 ${fmt(p.p50)}  p99 ${fmt(p.p99)}`);
  console.log(
    `  overhead           mean ${((p.mean / r.mean - 1) * 100).toFixed(1)}%  p50 ${((p.p50 / r.p50 - 1) * 100).toFixed(1)}%   target < 10%`,
  );
}
