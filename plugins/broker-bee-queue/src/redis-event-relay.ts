import { randomUUID } from 'node:crypto';
import type { EventRelay, TaskStreamEvent } from '@opspawn/plugin-sdk';
import type { RedisOutbox } from './redis-outbox.js';
import type { RedisSubscriber } from './redis-subscriber.js';

/**
 * Task events over Redis pub/sub, one channel per task, so an API process only receives the events of the tasks
 * someone is watching there. Redis delivers one connection's messages in order; a message lost while a
 * connection was down is not replayed, which is why watchers fall back to the store on a gap.
 */
export class RedisEventRelay implements EventRelay {
  /** Messages this process published come back to it on a '*' subscription; they are skipped. */
  private readonly origin = randomUUID();

  constructor(
    private readonly outbox: RedisOutbox,
    private readonly subscriber: RedisSubscriber,
    private readonly prefix: string,
  ) {}

  publish(event: TaskStreamEvent): void {
    // Fire and forget, batched per event-loop turn: the store has the event; a relay that is down only delays
    // live watchers.
    this.outbox.send('publish', `${this.prefix}${event.taskId}`, JSON.stringify({ o: this.origin, e: event }));
  }

  subscribe(taskId: string, listener: (event: TaskStreamEvent) => void): () => void {
    const handler = (_channel: string, message: string) => {
      const { o, e } = JSON.parse(message) as { o: string; e: TaskStreamEvent };
      if (o !== this.origin) listener(e);
    };
    return taskId === '*'
      ? this.subscriber.psubscribe(`${this.prefix}*`, handler)
      : this.subscriber.subscribe(`${this.prefix}${taskId}`, handler);
  }
}
