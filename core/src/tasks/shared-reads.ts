/**
 * Reads of the store that many watchers ask for at once — a thousand streams opening on a hundred tasks ask for the
 * same task and the same first page of events — share one store call while it is in flight. Nothing is cached
 * after it settles, so a later read always sees newer writes.
 */
export class SharedReads {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  read<T>(key: string, load: () => Promise<T>): Promise<T> {
    const pending = this.inFlight.get(key);
    if (pending) return pending as Promise<T>;
    const started = load().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }
}
