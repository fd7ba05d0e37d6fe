import type { RedisClient } from 'redis';

/** The keys of one bee-queue queue that a finish touches, and the broker's hash of delivery counts. */
export interface FinishKeys {
  active: string;
  stalling: string;
  jobs: string;
  deliveries: string;
}

/**
 * What bee-queue 2.0.0 writes for a job a worker holds (lib/queue.js), gathered per turn of the event loop: the lock
 * renewals (`_preventStall`: SREM from the stalling set) and the finishes of jobs that succeeded (LREM from the
 * active list, SREM from the stalling set, HDEL of the job's data, and of its delivery count) of every job of one
 * turn leave as one MULTI, where bee-queue sends one command and one MULTI per job, each its own socket write. The
 * MULTI keeps what bee-queue's own did: a stall check never sees a finish half done.
 */
export class ActiveJobWrites {
  private stalling = new Map<string, string[]>();
  private finished: Array<{ keys: FinishKeys; id: string; delivery: string }> = [];
  private waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private scheduled = false;

  constructor(private readonly client: RedisClient) {}

  /** Renews the lock of job `id`: takes it out of `stallingKey` (the stall check's set). */
  renewLock(stallingKey: string, id: string): Promise<void> {
    add(this.stalling, stallingKey, id);
    return this.written();
  }

  /**
   * Records that job `id` succeeded: it leaves the active list and its data is removed (bee-queue's
   * `removeOnSuccess`), and its `delivery` field of the delivery counts is deleted.
   */
  finish(keys: FinishKeys, id: string, delivery: string): Promise<void> {
    this.finished.push({ keys, id, delivery });
    return this.written();
  }

  /**
   * Writes what was gathered now rather than at the end of the turn: a command sent after this one on the same
   * connection (a fetch) finds the finished jobs gone from their active lists.
   */
  flush(): void {
    if (this.waiting.length === 0) return;
    const { stalling, finished, waiting } = this;
    this.stalling = new Map();
    this.finished = [];
    this.waiting = [];
    const commands: string[][] = [];
    const removed = new Map<string, string[]>();
    for (const { keys, id, delivery } of finished) {
      commands.push(['lrem', keys.active, '0', id]);
      add(stalling, keys.stalling, id);
      add(removed, keys.jobs, id);
      add(removed, keys.deliveries, delivery);
    }
    for (const [key, ids] of stalling) commands.push(['srem', key, ...ids]);
    for (const [key, fields] of removed) commands.push(['hdel', key, ...fields]);
    this.client.multi(commands).exec((error) => {
      for (const { resolve, reject } of waiting) {
        if (error) reject(error);
        else resolve();
      }
    });
  }

  private written(): Promise<void> {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}

function add(map: Map<string, string[]>, key: string, value: string): void {
  const values = map.get(key);
  if (values) values.push(value);
  else map.set(key, [value]);
}
