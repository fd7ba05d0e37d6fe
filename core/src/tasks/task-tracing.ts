import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  isSpanContextValid,
  propagation,
  trace,
  type Context,
  type Span,
  type SpanKind,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ErrorCodes, describeError, isOpspawnError, type Task } from '@opspawn/plugin-sdk';
import { CORE_VERSION } from '../version.js';

/**
 * The label that carries a task's trace context (the W3C `traceparent` of its submit span) through the store and
 * the broker to whichever process runs an attempt, retries and recoveries included. Set only while a tracer
 * provider records spans (the tracing-otlp plugin); see docs/decisions/0020-traces.md.
 */
export const TRACEPARENT_LABEL = 'opspawn.traceparent';

let kept: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The kernel's tracer, kept for as long as the API's global provider is the same object: a tracer kept beyond it
 * would go on feeding a provider that a stopped tracing plugin shut down (the API replaces its global provider when
 * tracing is disabled, so a new one shows as another object). Without a provider the API hands out non-recording
 * spans; a few small objects per span are the whole price of tracing when no exporter runs.
 */
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (kept?.provider !== provider) kept = { provider, tracer: provider.getTracer('@opspawn/core', CORE_VERSION) };
  return kept.tracer;
}

/**
 * Runs `fn` in a span that is active (the parent of spans started inside it) until `fn` settles. A throw marks
 * the span failed with the error's code; `parent` defaults to the active context. Without a tracer provider the span
 * is an invalid non-recording one, which a child could not take as its parent anyway: `fn` then runs in `parent`
 * as it is, with no context to build and nothing to end (seven spans a task, ADR 0022 round 2).
 */
export function inSpan<T>(
  name: string,
  kind: SpanKind,
  fn: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const span = tracer().startSpan(name, { kind }, parent);
  if (span.isRecording() || isSpanContextValid(span.spanContext())) return inActiveSpan(span, fn, parent);
  try {
    return context.with(parent, fn, undefined, span);
  } catch (error) {
    return Promise.reject(error);
  }
}

async function inActiveSpan<T>(span: Span, fn: (span: Span) => Promise<T>, parent: Context): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Error status and `error.type` (the Opspawn code) on a recording span. */
export function markFailed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  failSpan(span, isOpspawnError(error) ? error.code : ErrorCodes.TASK_INTERNAL, describeError(error));
}

/** Error status with `code` as `error.type`: a tool call that returned an error, which is not a throw. */
export function failSpan(span: Span, code: string, message: string): void {
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** The labels that carry `span`'s context into the task (none when it records nothing or labels are full). */
export function traceLabels(span: Span, labels: Readonly<Record<string, string>>): Record<string, string> {
  if (!span.isRecording() || Object.keys(labels).length >= 50) return {};
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier.traceparent ? { [TRACEPARENT_LABEL]: carrier.traceparent } : {};
}

/**
 * The context a submission continues: the active one when it holds a span (a transport's incoming `traceparent`, a
 * parent's tool call), else the `opspawn.traceparent` label the caller set, else none.
 */
export function submitContext(labels: Readonly<Record<string, string>> | undefined): Context {
  const active = context.active();
  const traceparent = labels?.[TRACEPARENT_LABEL];
  if (traceparent === undefined || trace.getSpan(active)) return active;
  return propagation.extract(active, { traceparent });
}

/** The context an attempt of `task` continues: its submit span, from the label. */
export function taskContext(task: Task): Context {
  const traceparent = task.labels[TRACEPARENT_LABEL];
  return traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, { traceparent });
}
