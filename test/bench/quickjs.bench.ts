/**
 * Sandboxed tool calls through QuickJsToolProvider (a fresh QuickJS runtime and context per call, in a pool of
 * worker threads, one per core by default), next to two baselines measured in the same run:
 *  - the bare QuickJS rate: a fresh runtime and context made and freed on this thread, nothing evaluated in it
 *    (the floor a fresh-runtime-per-call design cannot go under);
 *  - a child process per call (`node -e` running the same tool logic), the obvious alternative.
 * Targets (issue 18): calculate p50 <= 1 ms sequential, and <= 1 ms of wall time per call with 32 calls in flight
 * (with a few cores, 32 calls in flight mostly wait in the queue: their latency is the queue's, printed too); at
 * least 20x faster than a child process at p50.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultWorkers, QuickJsToolProvider } from '@opspawn/tools-quickjs';
import { newQuickJSWASMModule } from 'quickjs-emscripten';
import { fmt, summarize } from './stats.js';

const CALLS = 400;
const IN_FLIGHT = 32;
const CONCURRENT_CALLS = 1600;
const BARE = 2000;
const BASELINE_CALLS = 20;
const WARMUP = 50;
const INPUT = { expression: '2 * (3 + 4) ^ 2 / sqrt(16) + max(1, 2, 3)' };

// The same calculate file, its default export turned into a variable the child process can call.
const calculator = readFileSync(join(process.cwd(), 'config/tools/calculate.js'), 'utf8').replace(
  'export default',
  'const tool =',
);
const childScript = `${calculator}\nconst input = JSON.parse(process.argv[1]);\nprocess.stdout.write(JSON.stringify(tool.run(input)));`;

function childCall(): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', childScript, JSON.stringify(INPUT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited with ${code}`)),
    );
  });
}

/** Fresh runtimes and contexts made and freed per second on this thread. */
async function bareRate(): Promise<number> {
  const mod = await newQuickJSWASMModule();
  for (let i = 0; i < 100; i++) mod.newRuntime().dispose();
  const t0 = performance.now();
  for (let i = 0; i < BARE; i++) {
    const runtime = mod.newRuntime();
    runtime.newContext().dispose();
    runtime.dispose();
  }
  return BARE / ((performance.now() - t0) / 1000);
}

const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

export default async function bench(): Promise<void> {
  const workers = defaultWorkers();
  const provider = new QuickJsToolProvider({ watch: false });
  await provider.start();
  // Each call gets its own signal, as the tool registry gives every call.
  const call = async () => {
    const ctx = { signal: new AbortController().signal, deadline: Date.now() + 600_000, log: () => undefined };
    const result = await provider.call('calculate', INPUT, ctx);
    if (result.isError) throw new Error(`calculate failed: ${JSON.stringify(result.output)}`);
  };
  const sequential: number[] = [];
  const concurrent: number[] = [];
  let concurrentMs = 0;
  const bare = await bareRate();
  try {
    for (let i = 0; i < WARMUP; i++) await call();
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await call();
      sequential.push(performance.now() - t0);
    }
    let started = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (started < CONCURRENT_CALLS) {
          started++;
          const t1 = performance.now();
          await call();
          concurrent.push(performance.now() - t1);
        }
      }),
    );
    concurrentMs = performance.now() - t0;
  } finally {
    await provider.close();
  }
  const child: number[] = [];
  for (let i = 0; i < BASELINE_CALLS + 2; i++) {
    const t0 = performance.now();
    await childCall();
    if (i >= 2) child.push(performance.now() - t0);
  }
  const q = summarize(sequential);
  const c = summarize(concurrent);
  const k = summarize(child);
  const perCall = concurrentMs / CONCURRENT_CALLS;
  const callsPerSecond = 1000 / perCall;
  console.log(`calculate tool call through the provider, ${workers} sandbox workers (one per core):`);
  console.log(`  sequential, ${CALLS} calls            p50 ${fmt(q.p50)}  p99 ${fmt(q.p99)}  mean ${fmt(q.mean)}`);
  console.log(
    `  ${IN_FLIGHT} in flight, ${CONCURRENT_CALLS} calls        ${callsPerSecond.toFixed(0)} calls/s = ${fmt(perCall)} per call; latency p50 ${fmt(c.p50)}  p99 ${fmt(c.p99)} (queued behind ${IN_FLIGHT - workers} others)`,
  );
  console.log(
    `  bare QuickJS, fresh runtime + context, one thread: ${bare.toFixed(0)}/s; sandboxed calls/s on ${workers} workers = ${((100 * callsPerSecond) / bare).toFixed(0)}% of it`,
  );
  console.log(`  child process per call (node -e)     p50 ${fmt(k.p50)}  p99 ${fmt(k.p99)}  mean ${fmt(k.mean)}`);
  console.log(`  target sequential p50 <= 1 ms                   ${fmt(q.p50)}  ${met(q.p50 <= 1)}`);
  console.log(`  target ${IN_FLIGHT} in flight <= 1 ms per call           ${fmt(perCall)}  ${met(perCall <= 1)}`);
  console.log(
    `  target child process / QuickJS p50 >= 20x       ${(k.p50 / q.p50).toFixed(1)}x  ${met(k.p50 / q.p50 >= 20)}`,
  );
}
