import type { RedisClient } from 'redis';

type Handler = (channel: string, message: string) => void;

/**
 * One subscriber connection shared by everything that listens: channels and patterns are counted, so the
 * connection subscribes to each once and leaves it when its last listener does. node_redis subscribes again
 * by itself after a reconnect.
 */
export class RedisSubscriber {
  private readonly channels = new Map<string, Set<Handler>>();
  private readonly patterns = new Map<string, Set<Handler>>();

  constructor(private readonly client: RedisClient) {
    client.on('message', (channel: string, message: string) =>
      this.dispatch(this.channels.get(channel), channel, message),
    );
    client.on('pmessage', (pattern: string, channel: string, message: string) =>
      this.dispatch(this.patterns.get(pattern), channel, message),
    );
  }

  subscribe(channel: string, handler: Handler): () => void {
    return this.add(
      this.channels,
      channel,
      handler,
      () => this.client.subscribe(channel),
      () => this.client.unsubscribe(channel),
    );
  }

  psubscribe(pattern: string, handler: Handler): () => void {
    return this.add(
      this.patterns,
      pattern,
      handler,
      () => this.client.psubscribe(pattern),
      () => this.client.punsubscribe(pattern),
    );
  }

  private add(
    map: Map<string, Set<Handler>>,
    key: string,
    handler: Handler,
    on: () => void,
    off: () => void,
  ): () => void {
    let set = map.get(key);
    if (!set) {
      set = new Set();
      map.set(key, set);
      on();
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size > 0 || map.get(key) !== set) return;
      map.delete(key);
      off();
    };
  }

  private dispatch(handlers: Set<Handler> | undefined, channel: string, message: string): void {
    for (const handler of handlers ?? []) handler(channel, message);
  }
}
