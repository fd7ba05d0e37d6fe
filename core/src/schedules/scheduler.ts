import {
  SCHEDULE_LABEL,
  describeError,
  isFinalStatus,
  type Logger,
  type Schedule,
  type ScheduleStore,
  type Task,
  type TaskService,
} from '@opspawn/plugin-sdk';
import { compact } from './schedule-json.js';
import { planDue } from './schedule-times.js';

export interface SchedulerSettings {
  /** The longest sleep between two looks at the store. */
  pollMs: number;
  /** A due time found later than this counts as missed. */
  lateAfterMs: number;
}

/** Schedules handled per look; the rest wait for the next one (immediately after). */
const BATCH = 100;

/** The idempotency key of a schedule's task for one due time: the same in every process. */
export function fireKey(scheduleId: string, dueAt: Date): string {
  return `schedule:${scheduleId}:${dueAt.toISOString()}`;
}

/**
 * Fires due schedules. Every process that runs the task engine runs one; they agree through the store alone:
 *
 * - the task of a due time is submitted with an idempotency key made of the schedule id and the due time, so however
 *   many processes submit it, one task exists;
 * - then the schedule's revision is compare-and-set to the next due time: one process wins, the others see a schedule
 *   no longer due. A process that dies between the two leaves the due time pending; the next look submits the same
 *   key (getting the same task) and moves on, so a due time is neither lost nor doubled.
 */
export class Scheduler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** A wake came while a look was running: the next look starts at once. */
  private woken = false;

  constructor(
    private readonly store: ScheduleStore,
    private readonly tasks: TaskService,
    private readonly settings: SchedulerSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /**
   * A schedule of this process changed (created, retimed, resumed): look again now rather than at the next poll, so
   * its first due time is not up to `pollMs` late. Schedules changed in other processes are found by the poll.
   */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.woken = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One look: handles every due schedule, then says when to look next. */
  async tick(now = new Date()): Promise<void> {
    for (;;) {
      const due = await this.store.due(now.toISOString(), BATCH);
      for (const schedule of due) {
        if (this.stopped) return;
        await this.handle(schedule, now).catch((error) =>
          this.logger.warn(
            { err: error, schedule: schedule.id },
            `schedule '${schedule.id}' not handled: ${describeError(error)}`,
          ),
        );
      }
      if (due.length < BATCH) return;
      now = new Date();
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.loop().finally(() => {
        this.running = undefined;
      });
    }, delayMs);
    this.timer.unref?.();
  }

  private async loop(): Promise<void> {
    let delay = this.settings.pollMs;
    try {
      await this.tick();
      const next = await this.store.nextDueAt();
      if (next !== undefined) delay = Math.min(delay, Math.max(0, Date.parse(next) - Date.now()));
    } catch (error) {
      this.logger.warn({ err: error }, `scheduler look failed: ${describeError(error)}`);
    }
    if (this.woken) {
      this.woken = false;
      delay = 0;
    }
    this.schedule(delay);
  }

  private async handle(schedule: Schedule, now: Date): Promise<void> {
    const plan = planDue(schedule, now, this.settings.lateAfterMs);
    const next: Schedule = {
      ...schedule,
      nextDueAt: plan.nextDueAt.toISOString(),
      lastDueAt: plan.latestDueAt.toISOString(),
      skips: schedule.skips + plan.missed,
      updatedAt: new Date().toISOString(),
    };
    if (plan.lastMissedAt) next.lastSkip = { dueAt: plan.lastMissedAt.toISOString(), reason: 'missed' };
    if (plan.fireAt) {
      const running = await this.previousStillRunning(schedule);
      if (running) {
        next.skips += 1;
        next.lastSkip = {
          dueAt: plan.fireAt.toISOString(),
          reason: 'overlap',
          detail: `task ${running.id} is ${running.status}`,
        };
      } else {
        try {
          const { task } = await this.tasks.submit(this.request(schedule, plan.fireAt));
          next.lastTaskId = task.id;
          next.fires += 1;
        } catch (error) {
          // A refused submission (the agent was removed, the task request no longer valid) must not be retried
          // forever: the due time is recorded as skipped, with why.
          next.skips += 1;
          next.lastSkip = { dueAt: plan.fireAt.toISOString(), reason: 'submit_failed', detail: describeError(error) };
          this.logger.warn(
            { err: error, schedule: schedule.id },
            `schedule '${schedule.id}' could not submit its task`,
          );
        }
      }
    }
    const claimed = await this.store.replace(compact(next), schedule.revision);
    if (claimed && plan.fireAt && next.lastTaskId !== schedule.lastTaskId)
      this.logger.debug({ schedule: schedule.id, taskId: next.lastTaskId, dueAt: plan.fireAt }, 'schedule fired');
  }

  /** With `overlap: 'skip'`, the previous fire's task while it is not final. */
  private async previousStillRunning(schedule: Schedule): Promise<Task | undefined> {
    if (schedule.overlap !== 'skip' || schedule.lastTaskId === undefined) return undefined;
    const previous = await this.tasks.get(schedule.lastTaskId).catch(() => undefined);
    return previous && !isFinalStatus(previous.status) ? previous : undefined;
  }

  private request(schedule: Schedule, dueAt: Date): Parameters<TaskService['submit']>[0] {
    return {
      ...schedule.task,
      ...(schedule.agent !== undefined ? { agent: schedule.agent } : {}),
      labels: { ...schedule.task.labels, [SCHEDULE_LABEL]: schedule.id },
      idempotencyKey: fireKey(schedule.id, dueAt),
    };
  }
}
