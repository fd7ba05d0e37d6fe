import type { EventBus, TaskEvent } from '@opspawn/plugin-sdk';

/** The in-process event bus: watchers in this process see events appended in this process. */
export class LocalEventBus implements EventBus {
  private readonly listeners = new Map<string, Set<(event: TaskEvent) => void>>();

  publish(event: TaskEvent): void {
    for (const key of [event.taskId, '*']) {
      for (const listener of this.listeners.get(key) ?? []) {
        try {
          listener(event);
        } catch {
          // A broken watcher must not break the task that produced the event.
        }
      }
    }
  }

  subscribe(taskId: string, listener: (event: TaskEvent) => void): () => void {
    let set = this.listeners.get(taskId);
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(taskId);
    };
  }
}
