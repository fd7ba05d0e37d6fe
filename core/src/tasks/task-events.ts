import { FINAL_STATUSES, type EventBus, type TaskEvent, type TaskEventType, type TaskStatus, type TaskStore } from '@opspawn/plugin-sdk';

/** Appends an event to the store and publishes it to live watchers: the one way events are written. */
export class TaskEvents {
  constructor(private readonly store: TaskStore, private readonly bus: EventBus) {}

  async emit(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent> {
    const event = await this.store.appendEvent(taskId, type, data);
    this.bus.publish(event);
    return event;
  }
}

/** A status event announcing a final state: the last event of a task. */
export function isFinalEvent(event: TaskEvent): boolean {
  return event.type === 'status' && FINAL_STATUSES.includes(event.data.status as TaskStatus);
}
