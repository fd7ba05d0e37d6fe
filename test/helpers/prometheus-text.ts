import { Readable } from 'node:stream';
import { getMetricsFromStream, type PromHistogramData, type PromMetrics } from 'prom2javascript';

/**
 * Prometheus text read with a real exposition-format parser, not a regex (prom2javascript: parse-prometheus-text-format
 * drops the labels of a labelled histogram), with lookups by name and labels.
 */
export class Exposition {
  private constructor(
    readonly text: string,
    readonly families: PromMetrics,
  ) {}

  static async parse(text: string): Promise<Exposition> {
    // prom-client writes `Nan` for a gauge with no sample yet (event-loop lag read twice within its resolution).
    // Prometheus reads it (Go's ParseFloat ignores case); this parser reads no NaN at all, so such samples are left
    // out before parsing, and only they.
    const known = text.replace(/^[a-zA-Z_:][\w:]*(\{[^}]*\})? Nan$\n?/gm, '');
    return new Exposition(text, await getMetricsFromStream(Readable.from([known])));
  }

  private sample<T extends { labels: Record<string, string> }>(name: string, labels: Record<string, string>) {
    const data = (this.families[name]?.data ?? []) as unknown as T[];
    return data.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v));
  }

  /** The family's type (counter, gauge, histogram), or undefined when absent. */
  type(name: string): string | undefined {
    return this.families[name]?.type;
  }

  /** A counter's or gauge's value; 0 when the series is absent (a counter not yet incremented). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.sample<{ labels: Record<string, string>; value: number }>(name, labels)?.value ?? 0;
  }

  /** Every series of a family with its labels. */
  series(name: string): Array<{ labels: Record<string, string>; value?: number }> {
    return (this.families[name]?.data ?? []) as Array<{ labels: Record<string, string>; value?: number }>;
  }

  /** A histogram's count, sum and cumulative buckets as [upper bound, count], lowest bound first; zeros when absent. */
  histogram(
    name: string,
    labels: Record<string, string> = {},
  ): { count: number; sum: number; buckets: Array<[string, number]> } {
    const s = this.sample<PromHistogramData>(name, labels);
    // Sorted by bound: the parser's object lists integer-like keys ("1", "10") first.
    const buckets = Object.entries(s?.buckets ?? {}).sort(([a], [b]) => Number(a) - Number(b));
    return { count: s?.count ?? 0, sum: s?.sum ?? 0, buckets };
  }
}
