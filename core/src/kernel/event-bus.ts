import type { EventBus, EventRelay, TaskStreamEvent } from '@opspawn/plugin-sdk';

type Listener = (event: TaskStreamEvent) => void;

/**
 * The kernel's event bus: watchers in this process see events appended in this process and, once a relay is
 * attached (a broker spanning processes), the events other processes append.
 */
export class LocalEventBus implements EventBus {
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Listeners of the events published in this process only (`subscribeLocal`). */
  private readonly local = new Set<Listener>();
  private relay?: EventRelay;
  /** One relay subscription per key with local listeners. */
  private readonly relayed = new Map<string, () => void>();

  /** Sends every event published here through `relay`, and delivers what it receives to local listeners. */
  relayThrough(relay: EventRelay): void {
    this.relay = relay;
    for (const key of this.listeners.keys())
      this.relayed.set(
        key,
        relay.subscribe(key, (event) => this.deliver(key, event)),
      );
  }

  publish(event: TaskStreamEvent): void {
    this.relay?.publish(event);
    this.deliver(event.taskId, event);
    this.deliver('*', event);
    if (this.local.size > 0) this.notify(this.local, event);
  }

  subscribeLocal(listener: Listener): () => void {
    this.local.add(listener);
    return () => {
      this.local.delete(listener);
    };
  }

  /** A relay cannot tell whether another process watches, so with one this is always true. */
  mayWatch(taskId: string): boolean {
    return this.relay !== undefined || this.listeners.has(taskId) || this.listeners.has('*');
  }

  subscribe(taskId: string, listener: Listener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) {
      set = new Set();
      this.listeners.set(taskId, set);
      if (this.relay)
        this.relayed.set(
          taskId,
          this.relay.subscribe(taskId, (event) => this.deliver(taskId, event)),
        );
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size > 0 || this.listeners.get(taskId) !== set) return;
      this.listeners.delete(taskId);
      this.relayed.get(taskId)?.();
      this.relayed.delete(taskId);
    };
  }

  private deliver(key: string, event: TaskStreamEvent): void {
    const set = this.listeners.get(key);
    if (set) this.notify(set, event);
  }

  private notify(listeners: Set<Listener>, event: TaskStreamEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A broken watcher must not break the task that produced the event.
      }
    }
  }
}
