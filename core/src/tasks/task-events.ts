import {
  FINAL_STATUSES,
  type EventBus,
  type NewTaskEvent,
  type Task,
  type TaskChange,
  type TaskEvent,
  type TaskEventData,
  type TaskEventType,
  type TaskStatus,
  type TaskStore,
} from '@opspawn/plugin-sdk';
import { DeltaStream } from './task-deltas.js';
import { TaskIdentities } from './task-identities.js';

/** Appends an event to the store and publishes it to live watchers: the one way events are written. */
export class TaskEvents {
  /** The delta streams of the attempts running in this process, by task. */
  private readonly deltas = new Map<string, DeltaStream>();
  /** The tasks written here lately, known before their events are published (local subscribers may ask). */
  readonly identities = new TaskIdentities();

  constructor(
    private readonly store: TaskStore,
    private readonly bus: EventBus,
  ) {}

  async emit<T extends TaskEventType>(taskId: string, type: T, data: TaskEventData<T>): Promise<TaskEvent> {
    const event = await this.store.appendEvent(taskId, type, data);
    this.publish(event);
    return event;
  }

  /** Several events of one task, in order: one atomic append when the store offers it, else one after another. */
  async emitAll(taskId: string, events: readonly NewTaskEvent[]): Promise<TaskEvent[]> {
    if (events.length === 1) return [await this.emit(taskId, events[0]!.type, events[0]!.data)];
    if (this.store.appendEvents) {
      const stored = await this.store.appendEvents(taskId, events);
      for (const event of stored) this.publish(event);
      return stored;
    }
    const stored: TaskEvent[] = [];
    for (const { type, data } of events) stored.push(await this.emit(taskId, type, data));
    return stored;
  }

  /**
   * Opens the stream of transient deltas of the attempt about to run `taskId` (before its `running` move, so the
   * deltas know the seq of every stored event they follow). Close it when the attempt ends.
   */
  openDeltas(taskId: string): DeltaStream {
    const stream = new DeltaStream(taskId, this.bus, () => {
      if (this.deltas.get(taskId) === stream) this.deltas.delete(taskId);
    });
    this.deltas.set(taskId, stream);
    return stream;
  }

  private publish(event: TaskEvent): void {
    this.deltas.get(event.taskId)?.stored(event.seq);
    this.bus.publish(event);
  }

  /** Inserts a new task and its first status event; a replayed idempotency key returns the existing task. */
  async create(task: Task): Promise<{ task: Task; created: boolean }> {
    const data: TaskEventData<'status'> = { status: task.status, attempt: task.attempts };
    this.identities.remember(task);
    if (this.store.createWithEvent) {
      const result = await this.store.createWithEvent(task, { type: 'status', data });
      if (result.event) this.publish(result.event);
      return result;
    }
    const result = await this.store.create(task);
    if (result.created) await this.emit(task.id, 'status', data);
    return result;
  }

  /**
   * A compare-and-set transition and the status event announcing it (`data` plus the new status), after `before`
   * (the `final` answer a success records). One atomic round trip when the store offers it; without
   * `transitionWithEvents`, `before` is appended first, whatever the move's outcome. Returns the moved task, or
   * undefined when the condition did not hold.
   */
  async move(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    data: Omit<TaskEventData<'status'>, 'status'>,
    before: readonly NewTaskEvent[] = [],
  ): Promise<Task | undefined> {
    const eventData: TaskEventData<'status'> = { status: change.status, ...data };
    if (this.store.transitionWithEvents)
      return this.moveAtomically(id, from, change, expectAttempts, [...before, { type: 'status', data: eventData }]);
    if (before.length) await this.emitAll(id, before);
    if (this.store.transitionWithEvent) {
      const moved = await this.store.transitionWithEvent(id, from, change, expectAttempts, {
        type: 'status',
        data: eventData,
      });
      if (!moved) return undefined;
      this.identities.remember(moved.task);
      this.publish(moved.event);
      return moved.task;
    }
    const task = await this.store.transition(id, from, change, expectAttempts);
    if (!task) return undefined;
    this.identities.remember(task);
    await this.emit(id, 'status', eventData);
    return task;
  }

  /**
   * A compare-and-set transition written together with `event` (not a status event), then the status event
   * announcing the move: all three at once with `transitionWithEvents`. Without `transitionWithEvent` either, the
   * event is written after the move.
   */
  async moveWith<T extends TaskEventType>(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    event: { type: T; data: TaskEventData<T> },
    data: Omit<TaskEventData<'status'>, 'status'>,
  ): Promise<Task | undefined> {
    if (this.store.transitionWithEvents)
      return this.moveAtomically(id, from, change, expectAttempts, [
        event as NewTaskEvent,
        { type: 'status', data: { status: change.status, ...data } },
      ]);
    let task: Task | undefined;
    if (this.store.transitionWithEvent) {
      const moved = await this.store.transitionWithEvent(id, from, change, expectAttempts, event);
      if (moved) this.publish(moved.event);
      task = moved?.task;
    } else {
      task = await this.store.transition(id, from, change, expectAttempts);
      if (task) await this.emit(id, event.type, event.data);
    }
    if (task) await this.emit(id, 'status', { status: change.status, ...data });
    return task;
  }

  private async moveAtomically(
    id: string,
    from: readonly TaskStatus[],
    change: TaskChange,
    expectAttempts: number | undefined,
    events: readonly NewTaskEvent[],
  ): Promise<Task | undefined> {
    const moved = await this.store.transitionWithEvents!(id, from, change, expectAttempts, events);
    if (moved) this.identities.remember(moved.task);
    for (const event of moved?.events ?? []) this.publish(event);
    return moved?.task;
  }
}

/** A status event announcing a final state
: the last event of a task. */
export function isFinalEvent(event: TaskEvent): boolean {
  return event.type === 'status' && FINAL_STATUSES.includes(event.data.status);
}
