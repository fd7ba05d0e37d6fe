import { describeError, type Logger, type TaskStore } from '@opspawn/plugin-sdk';

/**
 * The leases of the attempts this worker runs. An attempt starts with a lease of `leaseMs`; while it runs, the
 * worker renews every lease it holds in one store statement each `leaseMs / 3`. A worker that dies stops renewing,
 * and recovery takes its attempts back once their leases run out: in seconds, whatever the tasks' timeouts.
 */
export class AttemptLeases {
  private readonly held = new Set<string>();
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<unknown>;
  /** Leases are kept only where other processes may take attempts back: with a durable broker, once started. */
  private active = false;

  constructor(
    private readonly store: TaskStore,
    readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /** When a new attempt's lease ends; undefined while this worker keeps no leases (then attempts hold none). */
  expiry(from = Date.now()): string | undefined {
    if (!this.active) return undefined;
    return new Date(from + this.leaseMs).toISOString();
  }

  hold(taskId: string): void {
    this.held.add(taskId);
  }

  release(taskId: string): void {
    this.held.delete(taskId);
  }

  start(): void {
    if (!this.store.renewLeases) {
      this.logger.warn(
        'the store does not offer renewLeases: attempts of a worker that dies are taken back at their deadline, not in seconds',
      );
      return;
    }
    this.active = true;
    this.timer = setInterval(
      () => {
        if (this.held.size === 0 || this.renewing) return;
        this.renewing = this.store.renewLeases!([...this.held], this.expiry()!)
          .catch((error) => this.logger.warn({ err: error }, `renewing attempt leases failed: ${describeError(error)}`))
          .finally(() => {
            this.renewing = undefined;
          });
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.active = false;
    clearInterval(this.timer);
    await this.renewing;
  }
}
