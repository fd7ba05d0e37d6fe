import { expect } from 'chai';
import { TickBatch } from '@opspawn/plugin-sdk';

describe('TickBatch', () => {
  it('runs the calls of one event-loop turn as one batch, in call order, each caller getting its own result', async () => {
    const batches: number[][] = [];
    const batch = new TickBatch<number, string>(async (items) => {
      batches.push(items);
      return items.map((n) => `#${n}`);
    });
    const first = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    const second = await batch.add(4);
    expect(first).to.deep.equal(['#1', '#2', '#3']);
    expect(second).to.equal('#4');
    expect(batches).to.deep.equal([[1, 2, 3], [4]]);
  });

  it('rejects only the caller whose result is an Error, and every caller when the batch throws', async () => {
    const perItem = new TickBatch<number, number>(async (items) =>
      items.map((n) => (n === 2 ? new Error('two is refused') : n * 10)),
    );
    const results = await Promise.allSettled([perItem.add(1), perItem.add(2), perItem.add(3)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).to.deep.equal([
      10,
      'two is refused',
      30,
    ]);

    const broken = new TickBatch<number, number>(async () => {
      throw new Error('database unreachable');
    });
    const failed = await Promise.allSettled([broken.add(1), broken.add(2)]);
    expect(failed.map((r) => r.status === 'rejected' && (r.reason as Error).message)).to.deep.equal([
      'database unreachable',
      'database unreachable',
    ]);
  });

  it('splits a turn with more calls than maxItems into several batches', async () => {
    const sizes: number[] = [];
    const batch = new TickBatch<number, number>(async (items) => {
      sizes.push(items.length);
      return items;
    }, 4);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => batch.add(i)));
    expect(results).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sizes).to.deep.equal([4, 4, 2]);
  });
});
