import { expect } from 'chai';
import { DependencyGraph } from '@opspawn/core';

const node = (id: string, provides: string[], consumes: string[]) => ({ id, provides, consumes });

describe('dependency graph', function () {
  it('orders every node after what it consumes', function () {
    const g = new DependencyGraph([node('c', [], ['b']), node('b', ['b'], ['a']), node('a', ['a'], [])]);
    expect(g.topologicalOrder()).to.deep.equal(['a', 'b', 'c']);
  });

  it('finds a cycle and prints it as a path that closes on itself', function () {
    const g = new DependencyGraph([
      node('a', ['A'], ['B']),
      node('b', ['B'], ['C']),
      node('c', ['C'], ['A']),
      node('d', [], ['A']),
    ]);
    expect(g.findCycle()).to.deep.equal(['a', 'b', 'c', 'a']);
  });

  it('names what a node consumes that nobody provides', function () {
    const g = new DependencyGraph([node('a', [], ['X', 'kernel'])]);
    expect(g.findUnsatisfied((t) => t === 'kernel')).to.deep.equal([{ node: 'a', missing: 'X' }]);
  });

  it('walks independent nodes at the same time and dependents after them', async function () {
    const g = new DependencyGraph([node('a', ['A'], []), node('b', ['B'], []), node('c', [], ['A', 'B'])]);
    let running = 0;
    let maxRunning = 0;
    const order: string[] = [];
    await g.walkInParallel(async (id) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setImmediate(r));
      order.push(id);
      running--;
      return true;
    });
    expect(maxRunning).to.equal(2);
    expect(order[2]).to.equal('c');
  });

  it('walks in reverse for stopping: dependents first', async function () {
    const g = new DependencyGraph([node('a', ['A'], []), node('b', ['B'], ['A']), node('c', [], ['B'])]);
    const order: string[] = [];
    await g.walkInParallel(
      async (id) => {
        order.push(id);
        return true;
      },
      { reverse: true },
    );
    expect(order).to.deep.equal(['c', 'b', 'a']);
  });

  it('skips the dependents of a failed node, telling which node blocked them', async function () {
    const g = new DependencyGraph([
      node('a', ['A'], []),
      node('b', ['B'], ['A']),
      node('c', [], ['B']),
      node('d', [], []),
    ]);
    const ran: string[] = [];
    const blocked: string[] = [];
    await g.walkInParallel(
      async (id) => {
        ran.push(id);
        return id !== 'a';
      },
      { onBlocked: (id, by) => blocked.push(`${id}<-${by}`) },
    );
    expect(ran).to.have.members(['a', 'd']);
    expect(blocked).to.deep.equal(['b<-a', 'c<-a']);
  });
});
