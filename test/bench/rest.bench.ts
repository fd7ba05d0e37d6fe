/**
 * REST POST /v1/tasks requests/s through transport-rest (store-memory + broker-memory + scripted planner; each
 * task is an empty plan that finishes at once, so tasks run while requests arrive) next to a bare koa handler
 * that parses the same JSON body, both on loopback in this process with the same keep-alive client.
 * Target: at least 50% of the bare handler. The same runs with metrics-prometheus on (and scraped once a second by
 * another process, as Prometheus would) compare against the runs without: issue 16 asks them to stay within 5% (ADR
 * 0018). Once more
 * with tracing-otlp on as well, exporting every span over OTLP/HTTP to a receiver in this process (ADR 0020): what
 * turning tracing on costs, next to metrics alone.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { extensionPoints, type PluginEntry } from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';

const REQUESTS = 20_000;
const CONNECTIONS = 32;
const BODY = JSON.stringify({ goal: 'bench', input: { plan: [], final: 'ok' }, labels: { bench: 'rest' } });
/** Accepted, stored and queued, but not started during the run: the API path alone, as in an API-only process. */
const LATER_BODY = JSON.stringify({
  goal: 'bench',
  input: { plan: [], final: 'ok' },
  labels: { bench: 'rest' },
  notBefore: new Date(Date.now() + 3_600_000).toISOString(),
});

async function drive(url: string, body = BODY, requests = REQUESTS): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const target = new URL('/v1/tasks', url);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        target,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < 1000; i++) await one();
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent < requests) {
        sent++;
        await one();
      }
    }),
  );
  const rate = requests / ((performance.now() - t0) / 1000);
  agent.destroy();
  return rate;
}

async function bareKoa(): Promise<{ url: string; close: () => void }> {
  const app = new Koa();
  app.use(async (ctx) => {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    const body = JSON.parse(raw) as { goal: string };
    ctx.status = 202;
    ctx.set('Location', '/v1/tasks/task_x');
    ctx.body = { id: 'task_x', goal: body.goal, status: 'queued' };
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

export default async function bench(): Promise<void> {
  const bare = await bareKoa();
  const before = await drive(bare.url);
  const metrics: PluginEntry = { use: '@opspawn/metrics-prometheus', options: { scope: 'public' } };
  // Metrics off and on run on two kernels alive at once, driven in turn (off-on, then on-off), and each side is the
  // rate of all its requests: kernels measured one after the other moved by more than the 5% it is meant to show
  // (ADR 0018).
  const { plain, metered } = await interleaved([], [metrics]);
  const receiver = new OtlpReceiver({ keep: false });
  const traced = await run(
    [metrics, { use: '@opspawn/tracing-otlp', options: { url: await receiver.listen(), flushIntervalMs: 1000 } }],
    true,
  );
  await receiver.close();
  // The baseline is measured before and after, so warm-up and machine load weigh on both sides alike.
  const baseline = (before + (await drive(bare.url))) / 2;
  bare.close();
  const pct = (rate: number, of: number) => `${((rate / of) * 100).toFixed(0)}%`;
  console.log(`REST POST requests/s, ${REQUESTS} requests over ${CONNECTIONS} keep-alive connections:`);
  console.log(`  bare koa handler (parse JSON, 202)   ${baseline.toFixed(0)} req/s`);
  console.log(
    `  transport-rest POST /v1/tasks        ${plain.apiOnly.toFixed(0)} req/s   (${pct(plain.apiOnly, baseline)} of bare; target >= 50%) validate, store, enqueue; tasks start later, as with workers elsewhere`,
  );
  console.log(
    `  ... with every task also run here   ${plain.opspawn.toFixed(0)} req/s   (${pct(plain.opspawn, baseline)} of bare) the embedded host: API and worker share one core`,
  );
  console.log(
    `  ... API only, metrics on             ${metered.apiOnly.toFixed(0)} req/s   (${pct(metered.apiOnly, plain.apiOnly)} of metrics off: two kernels driven in turn, ${METRIC_PAIRS} x ${METRIC_REQUESTS} requests each; target >= 95%)`,
  );
  console.log(
    `  ... tasks run here, metrics on       ${metered.opspawn.toFixed(0)} req/s   (${pct(metered.opspawn, plain.opspawn)} of metrics off; target >= 95%)`,
  );
  console.log(
    `  ... API only, metrics and tracing on ${traced.apiOnly.toFixed(0)} req/s   (${pct(traced.apiOnly, metered.apiOnly)} of metrics on, tracing off)`,
  );
  console.log(
    `  ... tasks run here, both on          ${traced.opspawn.toFixed(0)} req/s   (${pct(traced.opspawn, metered.opspawn)} of metrics on, tracing off); ${receiver.received} spans exported (the batch processor drops what overflows its queue of 2048)`,
  );
}

/** Turns of the metrics comparison, and requests per measurement in each. */
const METRIC_PAIRS = 4;
const METRIC_REQUESTS = 5_000;

type Rates = { apiOnly: number; opspawn: number };

/** The two REST measurements on kernels with `offExtra` and `onExtra` plugins (the latter scraped), in turn. */
async function interleaved(offExtra: PluginEntry[], onExtra: PluginEntry[]): Promise<{ plain: Rates; metered: Rates }> {
  const hosts = { plain: await restKernel(offExtra), metered: await restKernel(onExtra, true) };
  const seconds = { plain: { apiOnly: 0, opspawn: 0 }, metered: { apiOnly: 0, opspawn: 0 } };
  try {
    for (let i = 0; i < METRIC_PAIRS; i++)
      for (const side of i % 2 === 0 ? (['plain', 'metered'] as const) : (['metered', 'plain'] as const)) {
        seconds[side].apiOnly += METRIC_REQUESTS / (await drive(hosts[side].url, LATER_BODY, METRIC_REQUESTS));
        seconds[side].opspawn += METRIC_REQUESTS / (await drive(hosts[side].url, BODY, METRIC_REQUESTS));
      }
  } finally {
    await hosts.plain.stop();
    await hosts.metered.stop();
  }
  const total = METRIC_PAIRS * METRIC_REQUESTS;
  const rates = (side: 'plain' | 'metered'): Rates => ({
    apiOnly: total / seconds[side].apiOnly,
    opspawn: total / seconds[side].opspawn,
  });
  return { plain: rates('plain'), metered: rates('metered') };
}

/** A REST kernel with `extra` plugins; `scrape` reads its /metrics once a second from another process meanwhile. */
async function restKernel(extra: PluginEntry[], scrape = false): Promise<{ url: string; stop: () => Promise<void> }> {
  const kernel = await startTestKernel({
    plugins: [
      '@opspawn/store-memory',
      '@opspawn/broker-memory',
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
      { use: '@opspawn/transport-rest', options: { port: 0 } },
      ...extra,
    ],
  });
  const url = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  // Prometheus scrapes from a process of its own: so does this scraper, so its HTTP client's work is not counted
  // against the host (in this process it cost about 4% of the requests/s).
  const scraper = scrape
    ? spawn(
        process.execPath,
        ['-e', `setInterval(() => fetch(${JSON.stringify(`${url}/metrics`)}).then((r) => r.text(), () => {}), 1000)`],
        { stdio: 'ignore' },
      )
    : undefined;
  return {
    url,
    stop: async () => {
      scraper?.kill();
      await kernel.stop();
    },
  };
}

/** The two REST measurements on a kernel with `extra` plugins; `scrape` reads /metrics once a second meanwhile. */
async function run(extra: PluginEntry[], scrape = false): Promise<Rates> {
  const host = await restKernel(extra, scrape);
  try {
    return { apiOnly: await drive(host.url, LATER_BODY), opspawn: await drive(host.url) };
  } finally {
    await host.stop();
  }
}
