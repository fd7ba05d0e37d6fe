import {
  Counter,
  Histogram,
  type MetricObject,
  type MetricObjectWithValues,
  type MetricValue,
  type MetricValueWithName,
  type Registry,
} from 'prom-client';

/**
 * Counters and histograms whose hot path is a plain field update. prom-client finds a metric's series by hashing
 * its label object on every `inc` / `observe` (and validates the labels each time): on the task path, with a dozen
 * such calls per task, that was a third of the plugin's cost and most of its garbage. Here a caller looks a series
 * up once per label tuple (nested `Map`s, no key string built) and bumps its numbers; the families extend
 * prom-client's own classes, so the registry renders them at scrape time through their public `get()`.
 */

/** One label tuple's place in a family: the values, in the family's label order. */
type Tuple = readonly string[];

/** Series of one family, by label values: one nested `Map` level per label. */
class SeriesIndex<S> {
  private readonly root = new Map<string, unknown>();
  readonly all: { tuple: Tuple; series: S }[] = [];

  constructor(
    private readonly depth: number,
    private readonly make: () => S,
  ) {}

  at(a: string, b?: string, c?: string): S {
    let level = this.root;
    let found: unknown;
    for (let i = 0; i < this.depth; i++) {
      const value = (i === 0 ? a : i === 1 ? b : c) ?? '';
      found = level.get(value);
      if (found === undefined) return this.add(a, b, c);
      if (i < this.depth - 1) level = found as Map<string, unknown>;
    }
    return found as S;
  }

  clear(): void {
    this.root.clear();
    this.all.length = 0;
  }

  private add(a: string, b?: string, c?: string): S {
    const tuple = [a, b ?? '', c ?? ''].slice(0, this.depth);
    let level = this.root;
    for (let i = 0; i < this.depth - 1; i++) {
      let next = level.get(tuple[i]!) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(tuple[i]!, next);
      }
      level = next;
    }
    const series = this.make();
    level.set(tuple[this.depth - 1]!, series);
    this.all.push({ tuple, series });
    return series;
  }
}

interface FamilyConfig<L extends string> {
  name: string;
  help: string;
  /** At most three labels; each series is found with one `Map` lookup per label. */
  labelNames: readonly L[];
  registry: Registry;
}

function labelsOf<L extends string>(names: readonly L[], tuple: Tuple): Partial<Record<L, string>> {
  const labels: Partial<Record<L, string>> = {};
  names.forEach((name, i) => {
    labels[name] = tuple[i];
  });
  return labels;
}

/** A counter's value for one label tuple. */
export class CounterSeries {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter family: `at(...values)` finds (or starts) the series of a label tuple. */
export class CounterFamily<L extends string> extends Counter<L> {
  private readonly index: SeriesIndex<CounterSeries>;
  private readonly names: readonly L[];

  constructor(config: FamilyConfig<L>) {
    if (config.labelNames.length < 1 || config.labelNames.length > 3) throw new Error('one to three labels');
    super({ name: config.name, help: config.help, labelNames: config.labelNames, registers: [config.registry] });
    this.names = config.labelNames;
    this.index = new SeriesIndex(config.labelNames.length, () => new CounterSeries());
  }

  at(a: string, b?: string, c?: string): CounterSeries {
    return this.index.at(a, b, c);
  }

  override async get() {
    const values: MetricValue<L>[] = this.index.all.map(({ tuple, series }) => ({
      labels: labelsOf(this.names, tuple),
      value: series.value,
    }));
    return rendered(this, values);
  }

  override reset(): void {
    this.index?.clear();
  }
}

/**
 * A family with its values, in the shape of prom-client's own `get()`: name, help, type and aggregator as prom-client
 * set them on the metric (its typings call `type` an enum; at run time it is the exposition's type name).
 */
function rendered<V>(metric: object, values: V[]): MetricObjectWithValues<V & MetricValue<string>> {
  const { name, help, type, aggregator } = metric as MetricObject;
  // prom-client's own objects have no `collect` at run time, whatever its typings say.
  return { name, help, type, values, aggregator } as MetricObjectWithValues<V & MetricValue<string>>;
}

/** A histogram's buckets (each counted alone; rendered cumulative), sum and count for one label tuple. */
export class HistogramSeries {
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /** Observations at or under each bound, in the bounds' order. */
  cumulative(): number[] {
    let total = 0;
    return Array.from(this.counts, (n) => (total += n));
  }
}

/** A histogram family: `at(...values)` finds (or starts) the series of a label tuple. */
export class HistogramFamily<L extends string> extends Histogram<L> {
  private readonly index: SeriesIndex<HistogramSeries>;
  private readonly names: readonly L[];
  private readonly bounds: readonly number[];

  constructor(private readonly config: FamilyConfig<L> & { buckets: readonly number[] }) {
    if (config.labelNames.length < 1 || config.labelNames.length > 3) throw new Error('one to three labels');
    const bounds = [...config.buckets].sort((x, y) => x - y);
    super({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames,
      buckets: bounds,
      registers: [config.registry],
    });
    this.names = config.labelNames;
    this.bounds = bounds;
    this.index = new SeriesIndex(config.labelNames.length, () => new HistogramSeries(bounds));
  }

  at(a: string, b?: string, c?: string): HistogramSeries {
    return this.index.at(a, b, c);
  }

  override async get() {
    const { name } = this.config;
    const values: (MetricValueWithName<string> & { exemplar: null | undefined })[] = [];
    for (const { tuple, series } of this.index.all) {
      const labels = labelsOf(this.names, tuple);
      const cumulative = series.cumulative();
      for (let i = 0; i < this.bounds.length; i++) {
        const le = this.bounds[i]!;
        values.push({ value: cumulative[i]!, metricName: `${name}_bucket`, exemplar: null, labels: { le, ...labels } });
      }
      values.push(
        { value: series.count, metricName: `${name}_bucket`, exemplar: null, labels: { le: '+Inf', ...labels } },
        { value: series.sum, metricName: `${name}_sum`, exemplar: undefined, labels },
        { value: series.count, metricName: `${name}_count`, exemplar: undefined, labels },
      );
    }
    return rendered(this, values as MetricValueWithName<L>[]);
  }

  /** The registry renders a histogram through this when it has one (prom-client's own does); ours is `get()`. */
  getForPromString() {
    return this.get();
  }

  override reset(): void {
    this.index?.clear();
  }
}
