import { randomUUID } from 'node:crypto';
import type { EventRelay, TaskEvent } from '@opspawn/plugin-sdk';
import type { RedisClient } from 'redis';
import type { RedisSubscriber } from './redis-subscriber.js';

/**
 * Task events over Redis pub/sub, one channel per task, so an API process only receives the events of the tasks
 * someone is watching there. Redis delivers one connection's messages in order; a message lost while a
 * connection was down is not replayed, which is why watchers fall back to the store on a gap.
 */
export class RedisEventRelay implements EventRelay {
  /** Messages this process published come back to it on a '*' subscription; they are skipped. */
  private readonly origin = randomUUID();

  constructor(private readonly publisher: RedisClient, private readonly subscriber: RedisSubscriber, private readonly prefix: string) {}

  /** Events published in this turn of the event loop, sent together in one write. */
  private outbox: Array<[string, string]> = [];

  publish(event: TaskEvent): void {
    if (this.outbox.length === 0) setImmediate(() => this.flush());
    this.outbox.push([`${this.prefix}${event.taskId}`, JSON.stringify({ o: this.origin, e: event })]);
  }

  private flush(): void {
    const messages = this.outbox;
    this.outbox = [];
    // Fire and forget: the store has the events; a relay that is down only delays live watchers. A batch is one
    // write to the socket, and a worker's syscalls are what its throughput is made of.
    this.publisher.batch(messages.map(([channel, message]) => ['publish', channel, message])).exec(() => undefined);
  }

  subscribe(taskId: string, listener: (event: TaskEvent) => void): () => void {
    const handler = (_channel: string, message: string) => {
      const { o, e } = JSON.parse(message) as { o: string; e: TaskEvent };
      if (o !== this.origin) listener(e);
    };
    return taskId === '*'
      ? this.subscriber.psubscribe(`${this.prefix}*`, handler)
      : this.subscriber.subscribe(`${this.prefix}${taskId}`, handler);
  }
}
