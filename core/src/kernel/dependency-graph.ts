/**
 * The graph of what each node (a plugin or a kernel service) provides and consumes. Pure: no I/O.
 * A node depends on every node that provides something it consumes.
 */
export interface GraphNode {
  id: string;
  provides: readonly string[];
  consumes: readonly string[];
}

export class DependencyGraph<N extends GraphNode> {
  readonly nodes: ReadonlyMap<string, N>;
  /** node id -> ids of the nodes it depends on */
  readonly dependencies: ReadonlyMap<string, ReadonlySet<string>>;
  /** node id -> ids of the nodes that depend on it */
  readonly dependents: ReadonlyMap<string, ReadonlySet<string>>;
  private readonly providers = new Map<string, string[]>();

  constructor(nodes: Iterable<N>) {
    const byId = new Map<string, N>();
    for (const node of nodes) byId.set(node.id, node);
    this.nodes = byId;
    for (const node of byId.values()) {
      for (const p of node.provides) this.providers.set(p, [...(this.providers.get(p) ?? []), node.id]);
    }
    const dependencies = new Map<string, Set<string>>();
    const dependents = new Map<string, Set<string>>();
    for (const id of byId.keys()) {
      dependencies.set(id, new Set());
      dependents.set(id, new Set());
    }
    for (const node of byId.values()) {
      for (const c of node.consumes) {
        for (const provider of this.providers.get(c) ?? []) {
          if (provider === node.id) continue;
          dependencies.get(node.id)!.add(provider);
          dependents.get(provider)!.add(node.id);
        }
      }
    }
    this.dependencies = dependencies;
    this.dependents = dependents;
  }

  /** Node ids providing `what`. */
  providersOf(what: string): readonly string[] {
    return this.providers.get(what) ?? [];
  }

  /** Consumed things nobody provides, per node. */
  findUnsatisfied(isExternal: (what: string) => boolean = () => false): Array<{ node: string; missing: string }> {
    const out: Array<{ node: string; missing: string }> = [];
    for (const node of this.nodes.values()) {
      for (const c of node.consumes) {
        if (!this.providers.has(c) && !isExternal(c)) out.push({ node: node.id, missing: c });
      }
    }
    return out;
  }

  /** The first cycle found, as a path that starts and ends with the same node id (`a -> b -> a`). */
  findCycle(): string[] | undefined {
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (id: string): string[] | undefined => {
      state.set(id, 'visiting');
      stack.push(id);
      for (const dep of [...this.dependencies.get(id)!].sort()) {
        const s = state.get(dep);
        if (s === 'visiting') return [...stack.slice(stack.indexOf(dep)), dep];
        if (s === undefined) {
          const found = visit(dep);
          if (found) return found;
        }
      }
      stack.pop();
      state.set(id, 'done');
      return undefined;
    };
    for (const id of [...this.nodes.keys()].sort()) {
      if (!state.has(id)) {
        const found = visit(id);
        if (found) return found;
      }
    }
    return undefined;
  }

  /** Ids in an order where every node comes after its dependencies. Assumes no cycle. */
  topologicalOrder(): string[] {
    const order: string[] = [];
    const done = new Set<string>();
    const visit = (id: string): void => {
      if (done.has(id)) return;
      done.add(id);
      for (const dep of this.dependencies.get(id)!) visit(dep);
      order.push(id);
    };
    for (const id of this.nodes.keys()) visit(id);
    return order;
  }

  /**
   * Runs `fn` on every node once all its dependencies (or, `reverse`, all its dependents) have finished,
   * as many at a time as are ready. `fn` returning false marks the node as failed; nodes waiting on it are
   * passed to `onBlocked` instead of `fn`. Resolves when every node has been visited.
   */
  async walkInParallel(
    fn: (id: string) => Promise<boolean>,
    options: { reverse?: boolean; onBlocked?: (id: string, blockedBy: string) => void } = {},
  ): Promise<void> {
    const waitsOn = options.reverse ? this.dependents : this.dependencies;
    const unlocks = options.reverse ? this.dependencies : this.dependents;
    const remaining = new Map<string, number>();
    for (const [id, deps] of waitsOn) remaining.set(id, deps.size);
    const failedBy = new Map<string, string>();

    await new Promise<void>((resolve, reject) => {
      let pending = this.nodes.size;
      if (pending === 0) return resolve();
      const finish = (id: string, ok: boolean): void => {
        for (const next of unlocks.get(id)!) {
          if (!ok && !failedBy.has(next)) failedBy.set(next, failedBy.get(id) ?? id);
          const left = remaining.get(next)! - 1;
          remaining.set(next, left);
          if (left === 0) launch(next);
        }
        if (--pending === 0) resolve();
      };
      const launch = (id: string): void => {
        const blocker = failedBy.get(id);
        if (blocker !== undefined) {
          options.onBlocked?.(id, blocker);
          finish(id, false);
          return;
        }
        fn(id).then((ok) => finish(id, ok), reject);
      };
      for (const [id, count] of remaining) if (count === 0) launch(id);
    });
  }
}
