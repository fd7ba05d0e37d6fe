/**
 * Kernel boot with 50 no-op plugins in a dependency graph (each of plugins 5..49 consumes the services of two
 * earlier ones; 0..4 are roots), loaded from real packages on disk as a deployment would. Prints the kernel's
 * own time — static checks, imports, register, graph, start, stop — excluding Node's start. Target: < 100 ms.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, createLogger, normalizeConfig } from '@opspawn/core';
import { REPO } from '../helpers/deployment.js';
import { fmt, summarize } from './stats.js';

const PLUGINS = 50;
const RUNS = 30;

function writeDeployment(): string {
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-bench-boot-'));
  mkdirSync(join(dir, 'node_modules/@opspawn'), { recursive: true });
  symlinkSync(join(REPO, 'plugin-sdk'), join(dir, 'node_modules/@opspawn/plugin-sdk'));
  for (let i = 0; i < PLUGINS; i++) {
    const deps = i < 5 ? [] : [i - 5, Math.floor(i / 2)];
    const pdir = join(dir, `p${i}`);
    mkdirSync(pdir);
    writeFileSync(
      join(pdir, 'package.json'),
      JSON.stringify({
        name: `bench-p${i}`,
        version: '1.0.0',
        type: 'module',
        main: 'index.js',
        opspawn: {
          id: `p${i}`,
          kinds: [],
          kernel: '^1.0.0',
          configSchema: { type: 'object', properties: { n: { type: 'integer', default: i } } },
        },
      }),
    );
    writeFileSync(
      join(pdir, 'index.js'),
      `import { definePlugin, createToken } from '@opspawn/plugin-sdk';
export default definePlugin({ register(env) {
  env.provide(createToken('bench.p${i}'), { deps: { ${deps.map((d) => `d${d}: createToken('bench.p${d}')`).join(', ')} }, create: async () => ({ n: ${i} }), dispose: async () => {} });
} });\n`,
    );
  }
  return dir;
}

export default async function bench(): Promise<void> {
  const dir = writeDeployment();
  const logger = createLogger({ level: 'silent', pretty: false });
  const config = normalizeConfig({ plugins: Array.from({ length: PLUGINS }, (_, i) => `./p${i}`) }, process.env);
  const samples: number[] = [];
  const bootOnly: number[] = [];
  let cold = 0;
  try {
    for (let run = 0; run < RUNS + 3; run++) {
      const t0 = performance.now();
      const kernel = await Kernel.boot({ config, dir }, { logger });
      const t1 = performance.now();
      await kernel.stop();
      const t2 = performance.now();
      if (run === 0) cold = t2 - t0;
      if (run >= 3) {
        samples.push(t2 - t0);
        bootOnly.push(t1 - t0);
      } // the first runs pay for module imports
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const total = summarize(samples);
  const boot = summarize(bootOnly);
  console.log(`kernel boot+stop, ${PLUGINS} no-op plugins in a dependency graph, ${RUNS} runs (after 3 warm-up runs):`);
  console.log(`  boot (checks + graph + start)   p50 ${fmt(boot.p50)}  p99 ${fmt(boot.p99)}`);
  console.log(`  first boot + stop (cold: imports 50 plugin modules)  ${fmt(cold)}`);
  console.log(
    `  boot + stop                     p50 ${fmt(total.p50)}  p99 ${fmt(total.p99)}   target < 100 ms: ${total.p99 < 100 ? 'met' : 'NOT met'}`,
  );
}
