import { spawn } from 'node:child_process';
import { Cluster, submitMany } from '../helpers/cluster.js';
const N = 20;
const cluster = new Cluster({ OPSPAWN_CONCURRENCY: '32', OPSPAWN_LOG_LEVEL: 'error' });
await cluster.startApi();
await cluster.startWorker();
const noOp = (i: number) => ({ goal: `b ${i}`, input: { plan: [], final: 'ok' }, labels: { run: 'bench' } });
await submitMany(cluster.api!, 5, 5, noOp);
await cluster.settle('bench', 60_000);
const mon = spawn('redis-cli', ['monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
mon.stdout.on('data', (d) => (out += d));
await new Promise((r) => setTimeout(r, 300));
const pgBefore = await stats();
await submitMany(cluster.api!, N, 8, (i) => ({ ...noOp(i), labels: { run: 'count' } }));
await cluster.settle('count', 60_000);
await new Promise((r) => setTimeout(r, 300));
const pgAfter = await stats();
mon.kill();
const lines = out.split('\n').filter((l) => l.includes(cluster.queue) || l.includes('"evalsha"') || l.includes('"eval"'));
const byCmd = new Map<string, number>();
for (const l of lines) { const m = /\] "([a-z]+)"/.exec(l); if (m) byCmd.set(m[1]!, (byCmd.get(m[1]!) ?? 0) + 1); }
console.log('redis commands (incl. pipelined) naming the queue, per task:', lines.length / N, Object.fromEntries([...byCmd].map(([k, v]) => [k, v / N])));
console.log('pg xact_commit per task (whole db, noisy):', (pgAfter - pgBefore) / N);
await cluster.stop();
process.exit(0);
async function stats() {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
  await c.connect();
  const r = await c.query(`SELECT sum(calls)::int AS n FROM pg_stat_statements`).catch(() => undefined);
  const x = await c.query(`SELECT xact_commit::int AS n FROM pg_stat_database WHERE datname = 'test'`);
  await c.end();
  return r ? r.rows[0].n : x.rows[0].n;
}
