import type { RedisClient } from 'redis';

/**
 * Commands whose replies nobody waits for (event publishes, counter cleanup), sent together once per turn of the
 * event loop: one write to the socket instead of one per command. A worker's throughput is mostly system calls.
 */
export class RedisOutbox {
  private commands: Array<[string, ...string[]]> = [];

  constructor(private readonly client: RedisClient) {}

  send(command: string, ...args: string[]): void {
    if (this.commands.length === 0) setImmediate(() => this.flush());
    this.commands.push([command, ...args]);
  }

  private flush(): void {
    const commands = this.commands;
    this.commands = [];
    // A lost command is acceptable by construction: what is sent here is either in the store already or only
    // tidies up (see the callers).
    this.client.batch(commands).exec(() => undefined);
  }
}
