import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SpanNode } from './tracing.js';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  attributes?: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

function plainValue(v: OtlpValue): unknown {
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.doubleValue ?? v.boolValue;
}

function attributesOf(list: OtlpAttribute[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, plainValue(a.value)]));
}

/**
 * A collector's OTLP/HTTP traces endpoint in miniature: takes JSON exports on POST /v1/traces and keeps every span
 * in memory, with the service.name of the process that sent it.
 */
export class OtlpReceiver {
  readonly spans: SpanNode[] = [];
  /** Spans received, kept or not. */
  received = 0;

  /** `keep: false` only counts the spans (a bench sends hundreds of thousands). */
  constructor(private readonly options: { keep: boolean } = { keep: true }) {}

  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !req.headers['content-type']?.includes('json')) {
        res.writeHead(415).end();
        return;
      }
      this.take(JSON.parse(body) as OtlpExport);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private take(body: OtlpExport): void {
    for (const rs of body.resourceSpans ?? []) {
      const service = attributesOf(rs.resource?.attributes)['service.name'] as string | undefined;
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? []) {
          this.received++;
          if (!this.options.keep) continue;
          this.spans.push({
            name: s.name,
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            start: Number(s.startTimeUnixNano),
            attributes: attributesOf(s.attributes),
            statusCode: s.status?.code ?? 0,
            ...(service ? { service } : {}),
          });
        }
    }
  }
}
