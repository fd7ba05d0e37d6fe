/**
 * MCP proxy overhead: the same tool (server-everything's `echo` over stdio) called through the mcp-proxy tool
 * provider and through a raw SDK Client, in the same run. Target (issue 18): p50 overhead under 10%.
 *
 * The two paths talk to two server processes, and on a busy machine where the scheduler places a process weighs more
 * than the proxy does. So the calls alternate one by one (both see the same moment's load), and the run is repeated
 * with fresh processes a few times and pooled. The proxy's own SDK client called directly (same server process, same
 * process-group transport, a signal and a deadline) splits the overhead into the proxy code's part and the rest
 * (the other server process and how it is started: see ADR 0023).
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { REPO } from '../helpers/deployment.js';
import { silentLogger as silent } from '../helpers/silent-logger.js';
import { fmt, summarize } from './stats.js';

const EVERYTHING = join(REPO, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const ROUNDS = 3;
const CALLS_PER_ROUND = 700;
const WARMUP = 200;
const ECHO = { name: 'echo', arguments: { message: 'bench' } };

interface Samples {
  raw: number[];
  proxy: number[];
  /** The proxy again, alternating with its own client instead of with the raw client. */
  proxyNextToInner: number[];
  inner: number[];
}

/** Calls `a` and `b` in turn `n` times, timing each. */
async function alternate(n: number, a: [() => Promise<unknown>, number[]], b: [() => Promise<unknown>, number[]]) {
  for (let i = 0; i < n; i++) {
    for (const [call, out] of [a, b]) {
      const t0 = performance.now();
      await call();
      out.push(performance.now() - t0);
    }
  }
}

async function round(into: Samples): Promise<void> {
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
  // The proxy's own SDK client: the same server process and transport, without the proxy's code around it.
  const inner = (proxy as unknown as { servers: Map<string, { client: Client }> }).servers.get('everything')!.client;
  // Each proxied call gets its own signal, as the tool registry gives every call.
  const viaRaw = () => raw.callTool(ECHO);
  const viaProxy = () =>
    proxy.call(
      'call',
      { server: 'everything', tool: 'echo', arguments: { message: 'bench' } },
      { signal: new AbortController().signal, deadline: Date.now() + 10_000, log: () => undefined },
    );
  const viaInner = () => inner.callTool(ECHO, undefined, { signal: new AbortController().signal, timeout: 10_000 });
  try {
    for (let i = 0; i < WARMUP; i++) for (const call of [viaRaw, viaProxy, viaInner]) await call();
    // A server process that has just answered answers the next call sooner (it is still running), so each comparison
    // alternates two paths whose servers are in the same situation: two servers, or one shared server.
    await alternate(CALLS_PER_ROUND, [viaRaw, into.raw], [viaProxy, into.proxy]);
    await alternate(CALLS_PER_ROUND / 2, [viaInner, into.inner], [viaProxy, into.proxyNextToInner]);
  } finally {
    await proxy.close();
    await raw.close();
  }
}

const percent = (a: number, b: number) => `${((a / b - 1) * 100).toFixed(1)}%`;

export default async function bench(): Promise<void> {
  const all: Samples = { raw: [], proxy: [], proxyNextToInner: [], inner: [] };
  for (let i = 0; i < ROUNDS; i++) await round(all);
  const r = summarize(all.raw);
  const p = summarize(all.proxy);
  const i = summarize(all.inner);
  const pi = summarize(all.proxyNextToInner);
  console.log(
    `MCP echo over stdio (server-everything), ${ROUNDS} rounds of fresh server processes, ${ROUNDS * CALLS_PER_ROUND} calls per path, alternating call by call:`,
  );
  console.log(`  raw SDK client                    mean ${fmt(r.mean)}  p50 ${fmt(r.p50)}  p99 ${fmt(r.p99)}`);
  console.log(`  mcp-proxy                         mean ${fmt(p.mean)}  p50 ${fmt(p.p50)}  p99 ${fmt(p.p99)}`);
  console.log(
    `  overhead                          mean ${percent(p.mean, r.mean)}  p50 ${percent(p.p50, r.p50)}   target p50 < 10%: ${p.p50 / r.p50 < 1.1 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `  split: the proxy's own code, over its SDK client called directly (same server): mean ${percent(pi.mean, i.mean)}  p50 ${percent(pi.p50, i.p50)}`,
  );
  console.log(
    '         the rest is that client and its server (own session, process group, signal, deadline) against the raw one',
  );
}
