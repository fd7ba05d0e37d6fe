/**
 * Shares `slots` running deliveries of a worker among priority levels, highest level first.
 *
 * bee-queue has no priorities, so each level is its own queue, and each level's queue hands this worker up to
 * `slots` jobs. The gate holds the jobs that arrive while every slot is busy and starts them in level order.
 * When a job of some level finishes, that level's queue fetches the next one (a round trip): for `refillWaitMs`
 * the gate keeps the slot for it rather than start a lower level's held job, so a backlog of high-priority jobs
 * is not served alternately with low ones.
 */
export class PriorityGate {
  private running = 0;
  /** Held (arrived, not started) jobs per level index; index 0 is the highest level. */
  private readonly held: Array<Array<{ start: () => void; reject: (error: Error) => void }>>;
  /** Per level: jobs of that level running or held here. */
  private readonly taken: number[];
  /** Per level: until when the gate waits for that level's queue to hand over its next job. */
  private readonly refillUntil: number[];
  private timer?: NodeJS.Timeout;
  private closed?: Error;

  constructor(
    levels: number,
    private readonly slots: number,
    private readonly refillWaitMs: number,
  ) {
    this.held = Array.from({ length: levels }, () => []);
    this.taken = Array.from({ length: levels }, () => 0);
    // At start every level's queue is fetching its first job.
    this.refillUntil = Array.from({ length: levels }, () => Date.now() + refillWaitMs);
  }

  /** Runs `task` once a slot is free and no higher level is owed it; rejects once the gate is closed. */
  run<T>(level: number, task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    this.taken[level]!++;
    return new Promise<void>((start, reject) => {
      this.held[level]!.push({ start, reject });
      this.refillUntil[level] = 0;
      this.pick();
    })
      .then(task)
      .finally(() => {
        this.running--;
        this.taken[level]!--;
        if (this.taken[level]! < this.slots) this.refillUntil[level] = Date.now() + this.refillWaitMs;
        this.pick();
      });
  }

  /** Rejects every held job (so its queue retries it elsewhere) and every later arrival. */
  close(error: Error): void {
    this.closed = error;
    clearTimeout(this.timer);
    for (const level of this.held) for (const job of level.splice(0)) job.reject(error);
  }

  private pick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running < this.slots && !this.closed) {
      const level = this.held.findIndex((jobs) => jobs.length > 0);
      if (level < 0) return;
      const now = Date.now();
      const owed = this.refillUntil.slice(0, level).filter((until) => until > now);
      if (owed.length > 0) {
        this.timer = setTimeout(() => this.pick(), Math.min(...owed) - now + 1);
        return;
      }
      this.running++;
      this.held[level]!.shift()!.start();
    }
  }
}
