import { expect } from 'chai';
import { CounterFamily, HistogramFamily } from '@opspawn/metrics-prometheus';
import { Counter, Histogram, Registry } from 'prom-client';
import { Exposition } from '../../helpers/prometheus-text.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

/** A small deterministic generator: the same "random" uses in both registries, and the same on every run. */
function lcg(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/**
 * The metric families the plugin counts in (`series.ts`) replace prom-client's `inc` / `observe` on the task path.
 * What Prometheus reads must not change: the same uses of prom-client's own Counter and Histogram and of the
 * families give the same exposition text and the same JSON, value for value.
 */
describe('metrics-prometheus series families', () => {
  function pair() {
    const theirs = new Registry();
    const ours = new Registry();
    const names = { labelNames: ['status', 'agent'] as const };
    return {
      theirs,
      ours,
      counter: new Counter({ name: 'c_total', help: 'a counter', ...names, registers: [theirs] }),
      histogram: new Histogram({
        name: 'h_seconds',
        help: 'a histogram',
        ...names,
        buckets: BUCKETS,
        registers: [theirs],
      }),
      tool: new Counter({ name: 't_total', help: 'three labels', labelNames: ['a', 'b', 'c'], registers: [theirs] }),
      counterFamily: new CounterFamily({ name: 'c_total', help: 'a counter', ...names, registry: ours }),
      histogramFamily: new HistogramFamily({
        name: 'h_seconds',
        help: 'a histogram',
        ...names,
        buckets: BUCKETS,
        registry: ours,
      }),
      toolFamily: new CounterFamily({
        name: 't_total',
        help: 'three labels',
        labelNames: ['a', 'b', 'c'],
        registry: ours,
      }),
    };
  }

  it('renders the same text and JSON as prom-client for the same counts and observations', async () => {
    const m = pair();
    const random = lcg(7);
    const statuses = ['queued', 'running', 'succeeded', 'failed'];
    const agents = ['', 'triage', 'support "eu"\n'];
    for (let i = 0; i < 5000; i++) {
      const status = statuses[Math.floor(random() * statuses.length)]!;
      const agent = agents[Math.floor(random() * agents.length)]!;
      // Values on, under and over the bounds, and past the last one (counted only in +Inf).
      const value = random() < 0.1 ? BUCKETS[Math.floor(random() * BUCKETS.length)]! : random() ** 3 * 20;
      const by = Math.floor(random() * 3) + 1;
      m.counter.inc({ status, agent }, by);
      m.counterFamily.at(status, agent).inc(by);
      m.histogram.observe({ status, agent }, value);
      m.histogramFamily.at(status, agent).observe(value);
      m.tool.inc({ a: status, b: agent, c: 'x' });
      m.toolFamily.at(status, agent, 'x').inc();
    }
    const text = await m.ours.metrics();
    expect(text).to.equal(await m.theirs.metrics());
    expect(await m.ours.getMetricsAsJSON()).to.deep.equal(await m.theirs.getMetricsAsJSON());
    // And it parses as Prometheus text, with the histogram's count equal to its +Inf bucket.
    const parsed = await Exposition.parse(text);
    expect(parsed.type('h_seconds')).to.equal('histogram');
    expect(parsed.value('c_total', { status: 'failed', agent: 'triage' })).to.be.greaterThan(0);
  });

  it('keeps one series per label tuple, and empties on reset as prom-client does', async () => {
    const m = pair();
    const series = m.counterFamily.at('queued', 'a');
    expect(m.counterFamily.at('queued', 'a')).to.equal(series);
    expect(m.counterFamily.at('queued', 'b')).to.not.equal(series);
    series.inc();
    m.counter.inc({ status: 'queued', agent: 'a' });
    m.histogramFamily.at('queued', 'a').observe(0.5);
    m.histogram.observe({ status: 'queued', agent: 'a' }, 0.5);
    m.ours.resetMetrics();
    m.theirs.resetMetrics();
    expect(await m.ours.metrics()).to.equal(await m.theirs.metrics());
    expect(await m.ours.metrics()).to.not.match(/queued/);
  });

  it('refuses a family with no labels or more than three', () => {
    const registry = new Registry();
    expect(() => new CounterFamily({ name: 'x_total', help: 'x', labelNames: [], registry })).to.throw(
      /one to three labels/,
    );
    expect(
      () => new HistogramFamily({ name: 'y', help: 'y', labelNames: ['a', 'b', 'c', 'd'], buckets: [1], registry }),
    ).to.throw(/one to three labels/);
  });
});
