import { describeError, type Broker, type Logger, type TaskStore } from '@opspawn/plugin-sdk';
import { enqueueTask } from './enqueue-task.js';

/** How many submissions whose write went unanswered one process remembers; older ones are left to the sweep. */
const MAX_REMEMBERED = 10_000;
const CHECK_EVERY_MS = 1000;

/**
 * Submissions whose write to the store failed without an answer (the connection broke with the insert in flight):
 * the client was told the store is unavailable, yet the task may be stored and, unenqueued, wait for the recovery
 * sweep. This process asks the store about each every second until it answers, and enqueues those that are there.
 */
export class UnconfirmedSubmissions {
  private readonly ids = new Set<string>();
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly store: TaskStore,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  remember(taskId: string): void {
    if (this.ids.size >= MAX_REMEMBERED) return;
    this.ids.add(taskId);
    this.timer ??= setInterval(() => void this.check(), CHECK_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const id of this.ids) {
        const stored = await this.store.get(id);
        this.ids.delete(id);
        if (stored?.status !== 'queued') continue;
        await enqueueTask(this.broker, stored);
        this.logger.info({ taskId: id }, 'a submission whose store write went unanswered was stored: enqueued it');
      }
    } catch (error) {
      this.logger.debug({ err: describeError(error) }, 'the store still does not answer; asking again');
    } finally {
      this.checking = false;
      if (this.ids.size === 0) this.stop();
    }
  }
}
