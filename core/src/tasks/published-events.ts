import { BoundedMap, FINAL_STATUSES, type TaskEvent } from '@opspawn/plugin-sdk';

/** Tasks whose events are kept at once; past it the oldest task's record is dropped (its watchers read the store). */
const MAX_TASKS = 1_000;
/**
 * Events kept per task: its status moves and its first step's plan and calls (a step of more calls ends it). With
 * the end at the first tool result, a record never holds a tool's output (up to 256 KB each), only small events.
 */
const MAX_EVENTS = 8;

/** A task's events from its first, as published here, and the store's mark of other writers taken before it. */
interface TaskRecord {
  mark: number;
  events: TaskEvent[];
}

/**
 * The events this process published lately for the tasks it created, each task's from its seq 1 without a hole,
 * with the store's `foreignWrites` mark taken before the task was written (ADR 0022 round 6). While that mark has
 * not moved, nobody but this process wrote to the store since, and every event of this process is published after
 * its write: so the record holds every event of the task the store holds, less those committed and not yet
 * published, which a watcher subscribed before asking gets from the bus. A new watcher takes its first replay from
 * here instead of a store read: the case of a caller that submits and watches through one process (SSE or gRPC
 * Watch right after the submit, the CLI's `submit --wait`). A record ends at its task's final event (its watchers have it) or first tool
 * result (a watcher joining that late is rare, and outputs are large), at a missed seq (events published out of
 * order), past its size, or when newer tasks push it out.
 */
export class PublishedEvents {
  private readonly tasks = new BoundedMap<string, TaskRecord>(MAX_TASKS);

  /** Starts the record of a task about to be written; `mark` is the store's `foreignWrites()` before the write. */
  begin(taskId: string, mark: number): void {
    this.tasks.set(taskId, { mark, events: [] });
  }

  /** Adds an event just published; one that is not the next seq, a final one or a tool result ends the record. */
  published(event: TaskEvent): void {
    const record = this.tasks.get(event.taskId);
    if (!record) return;
    const { events } = record;
    const ends =
      event.type === 'tool_result' || (event.type === 'status' && FINAL_STATUSES.includes(event.data.status));
    if (ends || event.seq !== events.length + 1 || events.length === MAX_EVENTS) this.tasks.delete(event.taskId);
    else events.push(event);
  }

  /**
   * A task's events after `afterSeq` when the record holds them all and the store's mark is still `mark` (nobody
   * else wrote since the record began); undefined when the store must be read.
   */
  after(taskId: string, afterSeq: number, mark: number): TaskEvent[] | undefined {
    const record = this.tasks.get(taskId);
    if (!record) return undefined;
    if (record.mark !== mark) {
      // The mark only moves on: the record can never be trusted again.
      this.tasks.delete(taskId);
      return undefined;
    }
    if (!Number.isInteger(afterSeq) || afterSeq < 0) return undefined;
    return record.events.slice(afterSeq);
  }
}
