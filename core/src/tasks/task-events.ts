import {
  FINAL_STATUSES,
  type EventBus,
  type Task,
  type TaskChange,
  type TaskEvent,
  type TaskEventData,
  type TaskEventType,
  type TaskStatus,
  type TaskStore,
} from '@opspawn/plugin-sdk';

/** Appends an event to the store and publishes it to live watchers: the one way events are written. */
export class TaskEvents {
  constructor(
    private readonly store: TaskStore,
    private readonly bus: EventBus,
  ) {}

  async emit<T extends TaskEventType>(taskId: string, type: T, data: TaskEventData<T>): Promise<TaskEvent> {
    const event = await this.store.appendEvent(taskId, type, data);
    this.bus.publish(event);
    return event;
  }

  /** Inserts a new task and its first status event; a replayed idempotency key returns the existing task. */
  async create(task: Task): Promise<{ task: Task; created: boolean }> {
    const data: TaskEventData<'status'> = { status: task.status, attempt: task.attempts };
    if (this.store.createWithEvent) {
      const result = await this.store.createWithEvent(task, { type: 'status', data });
      if (result.event) this.bus.publish(result.event);
      return result;
    }
    const result = await this.store.create(task);
    if (result.created) await this.emit(task.id, 'status', data);
    return result;
  }

  /**
   * A compare-and-set transition and the status event announcing it (`data` plus the new status). One atomic
   * round trip when the store offers it; returns the moved task, or undefined when the condition did not hold.
   */
  async move(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    data: Omit<TaskEventData<'status'>, 'status'>,
  ): Promise<Task | undefined> {
    const eventData: TaskEventData<'status'> = { status: change.status, ...data };
    if (this.store.transitionWithEvent) {
      const moved = await this.store.transitionWithEvent(id, from, change, expectAttempts, {
        type: 'status',
        data: eventData,
      });
      if (moved) this.bus.publish(moved.event);
      return moved?.task;
    }
    const task = await this.store.transition(id, from, change, expectAttempts);
    if (task) await this.emit(id, 'status', eventData);
    return task;
  }
}

/** A status event announcing a final state: the last event of a task. */
export function isFinalEvent(event: TaskEvent): boolean {
  return event.type === 'status' && FINAL_STATUSES.includes(event.data.status);
}
