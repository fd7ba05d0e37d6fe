import {
  createToken,
  describeError,
  extensionPoints,
  type Logger,
  type RetentionRule,
  type TaskRetentionConfig,
  type TaskStore,
} from '@opspawn/plugin-sdk';
import type { KernelService } from '../kernel/kernel-service.js';

type FinalStatus = RetentionRule['status'];
const FINAL: readonly FinalStatus[] = ['succeeded', 'failed', 'cancelled'];
const DAY_MS = 86_400_000;

/** Defaults of `tasks.retention` (documented in docs/reference/config.md). */
export const RETENTION_DEFAULTS: Required<TaskRetentionConfig> = {
  succeeded: { maxAgeMs: 7 * DAY_MS, maxCount: 100_000 },
  failed: { maxAgeMs: 30 * DAY_MS, maxCount: 100_000 },
  cancelled: { maxAgeMs: 7 * DAY_MS, maxCount: 100_000 },
  intervalMs: 600_000,
  batchSize: 500,
};

export function retentionSettings(config: TaskRetentionConfig | undefined): Required<TaskRetentionConfig> {
  const merged = { ...RETENTION_DEFAULTS, ...config };
  for (const status of FINAL) merged[status] = { ...RETENTION_DEFAULTS[status], ...config?.[status] };
  return merged;
}

/**
 * Deletes finished tasks, with their events, past their status's age or count limit, so a store does not grow
 * forever. Runs in every process that runs tasks, a first pass soon after start and then every `intervalMs`; passes
 * of several processes at once only delete the same rows once. Each pass deletes in batches, oldest first, so one
 * pass never holds the store for long.
 */
export class TaskRetention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    private readonly store: TaskStore,
    private readonly settings: Required<TaskRetentionConfig>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.store.deleteFinished) {
      this.logger.warn(
        'the store does not offer deleteFinished: finished tasks are kept forever (tasks.retention does nothing)',
      );
      return;
    }
    this.schedule(Math.min(10_000, this.settings.intervalMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every final status; returns how many tasks of each it deleted. */
  async sweep(now = Date.now()): Promise<Record<FinalStatus, number>> {
    const deleted: Record<FinalStatus, number> = { succeeded: 0, failed: 0, cancelled: 0 };
    for (const status of FINAL) {
      const { maxAgeMs, maxCount } = this.settings[status];
      if (maxAgeMs == null && maxCount == null) continue;
      const rule: RetentionRule = {
        status,
        finishedBefore: maxAgeMs == null ? undefined : new Date(now - maxAgeMs).toISOString(),
        keepNewest: maxCount ?? undefined,
        limit: this.settings.batchSize,
      };
      for (let batch = rule.limit; batch === rule.limit && !this.stopped; ) {
        batch = await this.store.deleteFinished!(rule);
        deleted[status] += batch;
      }
    }
    return deleted;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const pass = this.sweep().then(
        (deleted) => {
          if (deleted.succeeded + deleted.failed + deleted.cancelled > 0)
            this.logger.info({ deleted }, 'retention: deleted finished tasks past their age or count limit');
        },
        (error) => this.logger.warn({ err: error }, `retention pass failed: ${describeError(error)}`),
      );
      this.running = pass;
      void pass.finally(() => this.schedule(this.settings.intervalMs));
    }, delayMs);
    this.timer.unref();
  }
}

const retentionToken = createToken<TaskRetention>('opspawn.kernel.retention');

/** `kernel:retention`: the retention job, in every process that runs tasks. */
export const retentionService: KernelService<TaskRetention, { store: typeof extensionPoints.store }> = {
  id: 'kernel:retention',
  token: retentionToken,
  deps: { store: extensionPoints.store },
  isAvailable: (plan) => Boolean(plan.chosen.store),
  unavailableHint: 'add a store plugin, e.g. @opspawn/store-sqlite',
  create({ store }, { config, logger, role }) {
    const retention = new TaskRetention(store, retentionSettings(config.tasks?.retention), logger);
    if (role !== 'api') retention.start();
    return retention;
  },
  dispose: (retention) => retention.stop(),
};
