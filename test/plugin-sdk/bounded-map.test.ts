import { expect } from 'chai';
import { BoundedMap } from '@opspawn/plugin-sdk';

describe('BoundedMap', () => {
  it('keeps at most max entries, forgetting the oldest inserted first', () => {
    const map = new BoundedMap<string, number>(3);
    for (const [i, key] of ['a', 'b', 'c', 'd', 'e'].entries()) map.set(key, i);
    expect([...map.keys()]).to.deep.equal(['c', 'd', 'e']);
  });

  it('treats a key deleted and set again as the newest, so it outlives older ones (least recently used)', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1).set('b', 2).set('c', 3);
    map.delete('a');
    map.set('a', 1);
    map.set('d', 4);
    expect([...map.keys()]).to.deep.equal(['c', 'a', 'd']);
  });

  it('evicts exactly as a plain Map evicting its first key would, through many uses, deletes and a clear', () => {
    const bounded = new BoundedMap<number, number>(50);
    const plain = new Map<number, number>();
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed % 200;
    };
    for (let i = 0; i < 20_000; i++) {
      const key = random();
      if (i % 97 === 0) {
        bounded.delete(key);
        plain.delete(key);
        continue;
      }
      if (i === 10_000) {
        bounded.clear();
        plain.clear();
      }
      bounded.delete(key);
      plain.delete(key);
      bounded.set(key, i);
      plain.set(key, i);
      while (plain.size > 50) plain.delete(plain.keys().next().value!);
    }
    expect([...bounded.entries()]).to.deep.equal([...plain.entries()]);
  });
});
