import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { createLogger } from '@opspawn/core';
import { TraceExport } from '@opspawn/tracing-otlp';

/** A finished span as both an in-memory exporter and an OTLP receiver can give it. */
export interface SpanNode {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** Nanoseconds since the epoch, as a sortable number. */
  start: number;
  attributes: Record<string, unknown>;
  /** 2 is error (OTLP's and the API's numbering agree). */
  statusCode: number;
  /** service.name of the process that recorded it (OTLP only). */
  service?: string;
}

/**
 * The spans under `root` as an indented outline of names, children in the order they started: what a tracing UI
 * shows, and easy to compare whole.
 */
export function outline(spans: readonly SpanNode[], root: SpanNode, label = (s: SpanNode) => s.name): string {
  const lines: string[] = [];
  const walk = (span: SpanNode, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${label(span)}`);
    const children = spans.filter((s) => s.parentSpanId === span.spanId).sort((a, b) => a.start - b.start);
    for (const child of children) walk(child, depth + 1);
  };
  walk(root, 0);
  return lines.join('\n');
}

/** The `opspawn.submit` span of task `taskId`. */
export function submitSpanOf(spans: readonly SpanNode[], taskId: string): SpanNode {
  const span = spans.find((s) => s.name === 'opspawn.submit' && s.attributes['opspawn.task.id'] === taskId);
  if (!span) throw new Error(`no opspawn.submit span for task ${taskId} among ${spans.length} spans`);
  return span;
}

/** tracing-otlp's setup for this process, every span recorded, exporting to `exporter` (flushed on demand). */
export function startTracing(exporter: SpanExporter): TraceExport {
  return TraceExport.start(
    {
      url: 'http://127.0.0.1:1/unused',
      headers: {},
      serviceName: 'opspawn',
      samplingRatio: 1,
      flushIntervalMs: 60_000,
      exportTimeoutMs: 1000,
    },
    { role: 'all', version: 'test' },
    createLogger({ level: 'silent' }),
    exporter,
  );
}
