/**
 * What a span costs the task path, as the kernel starts them (core/src/tasks/task-tracing.ts: the tracer kept while
 * the global provider is the same object, `startSpan`, `context.with`, attributes only when recording, `end`),
 * around an awaited no-op: with no tracer provider (tracing-otlp off, every deployment's default) and with
 * tracing-otlp's setup recording every span into its batch processor, whose exporter here drops them. Baselines in
 * the same run: the loop without spans, and with the same async wrapper but no span. A task makes 7 spans with one
 * tool call (submit, attempt, 2 steps, 2 decisions, 1 tool).
 */
import { ROOT_CONTEXT, SpanKind, context, trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { startTracing } from '../helpers/tracing.js';

const SPANS = 200_000;
const SPANS_PER_TASK = 7;

async function work(): Promise<number> {
  return 1;
}

let kept: { provider: TracerProvider; tracer: Tracer } | undefined;

function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (kept?.provider !== provider) kept = { provider, tracer: provider.getTracer('@opspawn/core', 'bench') };
  return kept.tracer;
}

async function wrapperOnly<T>(fn: () => Promise<T>): Promise<T> {
  const result = await fn();
  return result;
}

async function inSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const parent = context.active();
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL }, parent);
  try {
    if (span.isRecording()) span.setAttributes({ 'opspawn.task.id': 'task_bench', 'opspawn.step': 1 });
    return await context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end();
  }
}

/** Nanoseconds per call of `one`, best of 5 rounds (the machine is shared). */
async function nsPerCall(one: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < SPANS; i++) await one();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / SPANS);
  }
  return best;
}

const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => undefined,
};

export default async function bench(): Promise<void> {
  const bare = await nsPerCall(work);
  const wrapped = await nsPerCall(() => wrapperOnly(work));
  const off = await nsPerCall(() => inSpan('opspawn.step', work));

  const tracing = startTracing(dropping);
  const on = await nsPerCall(() => context.with(ROOT_CONTEXT, () => inSpan('opspawn.step', work)));
  await tracing.stop();

  const perTask = (ns: number) => `${(((ns - bare) * SPANS_PER_TASK) / 1000).toFixed(2)} µs per task`;
  console.log(`one span around an awaited no-op, ${SPANS} calls, best of 5 rounds:`);
  console.log(`  no span (baseline)              ${bare.toFixed(0)} ns`);
  console.log(`  async wrapper, no span           ${wrapped.toFixed(0)} ns   +${(wrapped - bare).toFixed(0)} ns`);
  console.log(
    `  tracing off (no provider)       ${off.toFixed(0)} ns   +${(off - bare).toFixed(0)} ns, ${perTask(off)}`,
  );
  console.log(`  tracing on (SDK, batch, dropped) ${on.toFixed(0)} ns   +${(on - bare).toFixed(0)} ns, ${perTask(on)}`);
  console.log(
    '  a task of the tasks bench costs about 1000 µs of CPU here (1000 tasks/s): compare the per-task figures',
  );
}
