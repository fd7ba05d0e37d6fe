import { hostname } from 'node:os';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { Logger } from '@opspawn/plugin-sdk';

export interface TraceExportOptions {
  /** The collector's OTLP/HTTP traces endpoint. */
  url: string;
  headers: Record<string, string>;
  /** `service.name` of this process's spans; an API-only or worker-only process appends its role. */
  serviceName: string;
  /** Share of new traces recorded; a trace continued from a caller follows the caller's decision. */
  samplingRatio: number;
  /** How long spans wait to be exported together. */
  flushIntervalMs: number;
  exportTimeoutMs: number;
}

/**
 * This process's OpenTelemetry tracing: a tracer provider exporting in batches, the W3C trace-context propagator
 * and an AsyncLocalStorage context manager, registered as the process's globals so that the spans the kernel and
 * plugins start through `@opentelemetry/api` are recorded. `stop` exports what is left and unregisters them.
 */
export class TraceExport {
  private constructor(
    private readonly provider: TracerProvider,
    private readonly contextManager: AsyncLocalStorageContextManager,
  ) {}

  /** Registers tracing for this process; `exporter` replaces OTLP/HTTP (tests). */
  static start(
    options: TraceExportOptions,
    process: { role: 'all' | 'api' | 'worker'; version: string },
    logger: Logger,
    exporter: SpanExporter = otlpExporter(options),
  ): TraceExport {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': serviceNameOf(options.serviceName, process.role),
        'service.version': process.version,
        'service.instance.id': `${hostname()}:${globalThis.process.pid}`,
        'opspawn.role': process.role,
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.samplingRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: options.flushIntervalMs,
          exportTimeoutMillis: options.exportTimeoutMs,
        }),
      ],
    });
    const contextManager = new AsyncLocalStorageContextManager().enable();
    // The API refuses a second registration (another tracing setup in this process): say so instead of exporting
    // nothing quietly.
    const registered =
      context.setGlobalContextManager(contextManager) &&
      trace.setGlobalTracerProvider(provider) &&
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    if (!registered)
      logger.warn('another OpenTelemetry setup is registered in this process: its tracer provider records the spans');
    return new TraceExport(provider, contextManager);
  }

  /** Exports the spans finished so far. */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Exports the spans still buffered, then unregisters the globals (a later start in this process may register). */
  async stop(): Promise<void> {
    await this.provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
    this.contextManager.disable();
  }
}

function otlpExporter(options: TraceExportOptions): OTLPTraceExporter {
  return new OTLPTraceExporter({
    url: options.url,
    headers: options.headers,
    timeoutMillis: options.exportTimeoutMs,
  });
}

/** `opspawn` for a process that runs everything, `opspawn-api` / `opspawn-worker` for the others. */
export function serviceNameOf(serviceName: string, role: 'all' | 'api' | 'worker'): string {
  return role === 'all' ? serviceName : `${serviceName}-${role}`;
}
