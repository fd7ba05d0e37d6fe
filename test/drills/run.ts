/**
 * `npm run drills [-- --tasks 2000] [name...]`: the fault drills of docs/explanation/delivery-guarantees.md. Each
 * starts a fresh distributed deployment (one API process, two workers of 8 tasks each), submits the tasks over REST,
 * injects its fault while they run, waits for every task to be final, and audits the store. It prints a row per
 * drill and PASS or FAIL against the targets; the exit code is 1 if any drill failed.
 */
import { parseArgs } from 'node:util';
import { reachable } from '../helpers/services.js';
import { cleanUpRunningDrills, type DrillOptions, type DrillResult, runDrill } from './drill.js';
import { SCENARIOS } from './scenarios.js';

const TARGET_SECONDS = 15;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    tasks: { type: 'string', default: process.env.DRILL_TASKS ?? '2000' },
    'in-flight': { type: 'string', default: '32' },
    'max-open': { type: 'string', default: '200' },
    steps: { type: 'string', default: '1' },
    'fault-at': { type: 'string', default: '0.8' },
    'wait-s': { type: 'string', default: '120' },
  },
});
const options: DrillOptions = {
  tasks: Number(values.tasks),
  inFlight: Number(values['in-flight']),
  maxOpen: Number(values['max-open']),
  steps: Number(values.steps),
  faultAt: Number(values['fault-at']),
  waitMs: Number(values['wait-s']) * 1000,
};
const unknown = positionals.filter((name) => !SCENARIOS.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(`unknown drill ${unknown.join(', ')}; the drills are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const scenarios = SCENARIOS.filter((s) => positionals.length === 0 || positionals.includes(s.name));

/** Set on Ctrl-C (or SIGTERM): the running drill's clean-up, after which the run exits 130 whoever gets there first. */
let stopping: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the running drill's processes and dropping its schema and queue...`);
    stopping = cleanUpRunningDrills();
    void stopping.finally(() => process.exit(130));
  });

if (!(await reachable(5432))) {
  console.error('the drills need PostgreSQL on 127.0.0.1:5432 (start it, or see .ci/run)');
  process.exit(2);
}

/** Why a drill misses its targets; empty when it meets them all. */
function misses(r: DrillResult): string[] {
  const missed: string[] = [];
  if (r.stuck > 0) missed.push(`${r.stuck} stuck`);
  if (r.duplicateFinals > 0) missed.push(`${r.duplicateFinals} with duplicate finals`);
  if (r.missingSeqs > 0) missed.push(`${r.missingSeqs} missing seqs`);
  if (r.lost > 0) missed.push(`${r.lost} accepted but not stored`);
  if (r.secondsToAllFinal === undefined) missed.push(`not all final ${options.waitMs / 1000} s after the fault`);
  else if (r.secondsToAllFinal > TARGET_SECONDS)
    missed.push(`all final ${r.secondsToAllFinal.toFixed(1)} s after the fault (target ${TARGET_SECONDS} s)`);
  return missed;
}

const COLUMNS = [
  ['drill', 14],
  ['accepted', 8],
  ['refused', 7],
  ['succeeded', 9],
  ['failed', 6],
  ['cancelled', 9],
  ['stuck', 5],
  ['dup finals', 10],
  ['missing seqs', 12],
  ['lost', 4],
  ['open at fault end', 17],
  ['fault s', 7],
  ['fault end → all final s', 23],
  ['result', 6],
] as const;
const row = (cells: Array<string | number>) =>
  cells
    .map((cell, i) => (i === 0 ? String(cell).padEnd(COLUMNS[i]![1]) : String(cell).padStart(COLUMNS[i]![1])))
    .join(' | ');

console.log(
  [
    `${options.tasks} tasks per drill of ${options.steps} sandboxed calculation(s) each, submitted over REST ` +
      `${options.inFlight} at a time, at most ${options.maxOpen} unfinished; the fault once ` +
      `${options.faultAt * 100}% are accepted.`,
    `1 API process, 2 workers × concurrency 8; recovery sweep every ` +
      `${process.env.OPSPAWN_RECONCILE_INTERVAL_MS ?? '30000 (default)'} ms (OPSPAWN_RECONCILE_INTERVAL_MS).`,
    `Targets: nothing stuck, duplicated, missing or lost; all final within ${TARGET_SECONDS} s of the fault's end.`,
  ].join('\n'),
);
for (const s of scenarios) console.log(`  ${s.name}: ${s.fault}`);
console.log(`\n${row(COLUMNS.map(([name]) => name))}`);
console.log(COLUMNS.map(([, width]) => '-'.repeat(width)).join('-|-'));

const notes: string[] = [];
let failed = 0;
for (const scenario of scenarios) {
  let result: DrillResult;
  try {
    result = await runDrill(scenario, options);
  } catch (error) {
    if (stopping) break;
    failed++;
    console.log(row([scenario.name, ...Array(COLUMNS.length - 2).fill('-'), 'FAIL']));
    notes.push(`${scenario.name}: the drill itself failed: ${(error as Error).stack ?? error}`);
    continue;
  }
  if (stopping) break;
  const missed = misses(result);
  if (missed.length > 0) failed++;
  console.log(
    row([
      result.scenario,
      result.accepted,
      Object.values(result.refused).reduce((a, b) => a + b, 0),
      result.byStatus.succeeded ?? 0,
      result.byStatus.failed ?? 0,
      result.byStatus.cancelled ?? 0,
      result.stuck,
      result.duplicateFinals,
      result.missingSeqs,
      result.lost,
      result.openAtFaultEnd,
      result.faultSeconds.toFixed(1),
      result.secondsToAllFinal?.toFixed(1) ?? `> ${options.waitMs / 1000}`,
      missed.length > 0 ? 'FAIL' : 'PASS',
    ]),
  );
  if (missed.length > 0) notes.push(`${result.scenario}: FAIL: ${missed.join('; ')}`);
  if (result.lastToFinish) notes.push(`${result.scenario}: final last, from the fault's end: ${result.lastToFinish}`);
  if (Object.keys(result.refused).length > 0)
    notes.push(`${result.scenario}: refused submissions by code: ${JSON.stringify(result.refused)}`);
  if (result.stored !== result.accepted)
    notes.push(
      `${result.scenario}: ${result.stored} tasks stored for ${result.accepted} accepted (a refused submission may have been stored before its reply was lost)`,
    );
  for (const crash of result.crashed) notes.push(`${result.scenario}: ${crash}`);
}

if (stopping) {
  await stopping;
  process.exit(130);
}
if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
console.log(`\n${scenarios.length - failed} of ${scenarios.length} drills met the targets`);
process.exit(failed > 0 ? 1 : 0);
