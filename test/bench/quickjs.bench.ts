/**
 * Latency of one sandboxed tool call through QuickJsToolProvider (a fresh QuickJS runtime per call, in a worker)
 * next to the obvious alternative measured in the same run: a child process per call (`node -e` running the
 * same tool logic). Target: the sandbox at least 20x faster at p50.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QuickJsToolProvider } from '@opspawn/tools-quickjs';
import { fmt, summarize } from './stats.js';

const CALLS = 200;
const BASELINE_CALLS = 30;
const WARMUP = 10;
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

export default async function bench(): Promise<void> {
  const provider = new QuickJsToolProvider({ watch: false, workers: 2 });
  await provider.start();
  const ctx = { signal: new AbortController().signal, deadline: Date.now() + 600_000, log: () => undefined };
  const sandbox: number[] = [];
  try {
    for (let i = 0; i < WARMUP + CALLS; i++) {
      const t0 = performance.now();
      const result = await provider.call('calculate', INPUT, ctx);
      const t1 = performance.now();
      if (result.isError) throw new Error(`calculate failed: ${JSON.stringify(result.output)}`);
      if (i >= WARMUP) sandbox.push(t1 - t0);
    }
  } finally {
    await provider.close();
  }
  const child: number[] = [];
  for (let i = 0; i < BASELINE_CALLS + 2; i++) {
    const t0 = performance.now();
    await childCall();
    if (i >= 2) child.push(performance.now() - t0);
  }
  const q = summarize(sandbox);
  const c = summarize(child);
  console.log(`calculate tool call, sequential, ${CALLS} sandbox calls / ${BASELINE_CALLS} child-process calls:`);
  console.log(
    `  QuickJS (fresh runtime per call, worker pool)  p50 ${fmt(q.p50)}  p99 ${fmt(q.p99)}  mean ${fmt(q.mean)}`,
  );
  console.log(
    `  child process per call (node -e)              p50 ${fmt(c.p50)}  p99 ${fmt(c.p99)}  mean ${fmt(c.mean)}`,
  );
  console.log(
    `  ratio (child / QuickJS)                       p50 ${(c.p50 / q.p50).toFixed(1)}x  p99 ${(c.p99 / q.p99).toFixed(1)}x  (target >= 20x)`,
  );
}
