import {
  describeError,
  type Broker,
  type Delivery,
  type Logger,
  type Task,
  type TaskEngineConfig,
  type TaskStore,
} from '@opspawn/plugin-sdk';
import { approvalExpired } from './agent-loop.js';
import { enqueueTask } from './enqueue-task.js';
import { StepLog } from './step-log.js';
import { stalledError, type TaskTransitions } from './task-transitions.js';

export interface TaskRecoveryDeps {
  store: TaskStore;
  broker: Broker;
  transitions: TaskTransitions;
  settings: Required<TaskEngineConfig>;
  logger: Logger;
}

/** Tasks recovery reads from the store in one go. */
const RECOVERY_PAGE = 500;

/**
 * Gives back work that stopped without an outcome, so a task is never lost: after a restart (an in-process
 * broker forgot its queue), when a broker hands over the task of a worker that stopped answering, and in a
 * periodic sweep for what a durable broker lost. Every move is a compare-and-set, so many workers may recover at
 * once.
 */
export class TaskRecovery {
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private leaseTimer?: NodeJS.Timeout;
  private takingBack?: Promise<unknown>;
  private expiryTimer?: NodeJS.Timeout;
  private expiring?: Promise<unknown>;
  private stopping = false;

  constructor(private readonly deps: TaskRecoveryDeps) {}

  /** After a restart: attempts that were running are counted and queued again; every unfinished task is enqueued. */
  async recoverOnStart(): Promise<void> {
    const { store, transitions, logger } = this.deps;
    for (;;) {
      const running = await store.findByStatus(['running'], RECOVERY_PAGE);
      if (running.length === 0) break;
      for (const task of running) {
        await transitions.stall(task.id, task.attempts, stalledError('the host stopped while this attempt ran'));
      }
    }
    const requeued = await this.enqueueQueued(() => true);
    if (requeued > 0) logger.info({ requeued }, `re-queued ${requeued} unfinished task(s) from the store`);
  }

  /**
   * A redelivery of a task that is `running`: the worker that ran the attempt stopped answering and the broker
   * took its job back. Ends the dead attempt (counted) and queues the task again under a new job for the next
   * attempt, or fails it once it has stalled more than `maxStalls` times. A redelivery of a job older than the
   * running attempt (its attempt already ended and a later one runs) changes nothing.
   */
  async takeOverStalled(task: Task, delivery: Delivery): Promise<void> {
    const { transitions, settings } = this.deps;
    if (delivery.attempts !== undefined && task.attempts !== delivery.attempts + 1) return;
    const stalls = delivery.stalls ?? 0;
    if (stalls > settings.maxStalls) {
      await transitions.fail(
        task.id,
        task.attempts,
        stalledError(
          `the task stalled ${stalls} times (its worker stopped answering each time); maxStalls is ${settings.maxStalls}`,
        ),
      );
      return;
    }
    const back = await transitions.stall(
      task.id,
      task.attempts,
      stalledError('the worker running this attempt stopped answering'),
      stalls,
    );
    // A job of its own for the next attempt keeps "job (task, n) runs attempt n + 1" true for later redeliveries.
    if (back) await enqueueTask(this.deps.broker, back);
  }

  /** Runs `sweep` every `reconcileIntervalMs` (with jitter) until `stop`. */
  startSweep(): void {
    const interval = this.deps.settings.reconcileIntervalMs;
    // Jitter keeps the sweeps of many workers started together from landing at the same moment.
    this.sweepTimer = setTimeout(
      () => {
        this.sweeping = this.sweep()
          .then(
            () => undefined,
            (error) =>
              this.deps.logger.warn(
                { err: describeError(error) },
                'recovery sweep failed; it runs again next interval',
              ),
          )
          .finally(() => {
            this.sweeping = undefined;
            if (!this.stopping) this.startSweep();
          });
      },
      Math.round(interval * (0.8 + Math.random() * 0.4)),
    );
    this.sweepTimer.unref();
  }

  /**
   * Enqueues every queued task of the store once, without waiting for the sweep: when a process starts on a
   * durable broker (a process that died between storing a task and enqueueing it left it so), and when the broker
   * is connected again after an outage (a submit whose enqueue was refused, or jobs lost with the broker's data).
   * Enqueueing (task, attempts) twice is harmless.
   */
  async enqueueStoredQueued(why: 'start' | 'broker reconnected'): Promise<void> {
    if (this.stopping) return;
    const requeued = await this.enqueueQueued(() => true);
    if (requeued > 0 || why === 'broker reconnected')
      this.deps.logger.info({ requeued }, `${why}: enqueued ${requeued} queued task(s) of the store`);
  }

  /** Checks every `leaseMs / 3` for running attempts whose lease ran out, and takes them back. */
  startLeaseWatch(): void {
    if (!this.deps.store.renewLeases) return;
    this.leaseTimer = setInterval(
      () => {
        if (this.takingBack || this.stopping) return;
        this.takingBack = this.takeBackExpiredLeases()
          .catch((error) =>
            this.deps.logger.warn({ err: describeError(error) }, 'taking back expired leases failed; it runs again'),
          )
          .finally(() => {
            this.takingBack = undefined;
          });
      },
      Math.max(100, Math.floor(this.deps.settings.leaseMs / 3)),
    );
    this.leaseTimer.unref();
  }

  /**
   * Checks every `reconcileIntervalMs` for tasks waiting for an approval whose request expired, and fails them. Runs
   * in every process that consumes, on any broker: a waiting task has no worker, so the check is the store's.
   */
  startApprovalExpiry(): void {
    this.expiryTimer = setInterval(() => {
      if (this.expiring || this.stopping) return;
      this.expiring = this.expireApprovals()
        .catch((error) =>
          this.deps.logger.warn({ err: describeError(error) }, 'expiring approval requests failed; it runs again'),
        )
        .finally(() => {
          this.expiring = undefined;
        });
    }, this.deps.settings.reconcileIntervalMs);
    this.expiryTimer.unref();
  }

  /**
   * Tasks waiting for approval past their request's `expiresAt` fail with APPROVAL_EXPIRED (a compare-and-set: a
   * decision that came first wins). Returns how many this process failed.
   */
  async expireApprovals(now = Date.now()): Promise<number> {
    const { store, transitions, logger } = this.deps;
    let expired = 0;
    for (const task of await store.findByStatus(['waiting_approval'], RECOVERY_PAGE)) {
      const log = await StepLog.read(task.id, (id, after, limit) => store.events(id, after, limit));
      const step = log.pending();
      const asked = step && [...step.requested.values()].find((r) => !step.decided.has(r.callId));
      if (!asked || Date.parse(asked.expiresAt) > now) continue;
      const error = approvalExpired(asked.tool, asked.callId, asked.expiresAt);
      if (await transitions.expire(task, { code: error.code, message: error.message })) expired++;
    }
    if (expired > 0) logger.info({ expired }, `${expired} task(s) failed: their approval request expired`);
    return expired;
  }

  /** Ends the periodic sweep, waiting for a running one, and stops any recovery paging through the store. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.sweepTimer);
    clearInterval(this.leaseTimer);
    clearInterval(this.expiryTimer);
    await Promise.all([this.sweeping, this.takingBack, this.expiring]);
  }

  /**
   * Running attempts whose lease ran out: their worker stopped renewing it (it died, or lost the store), so the
   * attempt ends as stalled and the task goes back to the queue, or fails once it has no attempts left. A worker
   * that was only slow finds its attempt taken over, and its late result is refused by the compare-and-set.
   */
  async takeBackExpiredLeases(now = Date.now()): Promise<number> {
    const { store, logger } = this.deps;
    let taken = 0;
    for (const task of await store.findByStatus(['running'], RECOVERY_PAGE)) {
      if (!task.leaseExpiresAt || Date.parse(task.leaseExpiresAt) >= now) continue;
      if (await this.takeBack(task, `the lease of attempt ${task.attempts} ran out: its worker stopped renewing it`))
        taken++;
    }
    if (taken > 0) logger.warn({ taken }, `took back ${taken} attempt(s) whose worker stopped renewing their lease`);
    return taken;
  }

  /**
   * Hands back work a durable broker lost (its data was wiped, an enqueue failed while it was down, a worker
   * died where the broker could not see it): running attempts past their deadline end as stalled and go back to
   * the queue; queued tasks untouched for a whole interval are enqueued again. Enqueueing (task, attempts) twice
   * is harmless, and every change is a compare-and-set, so many workers may sweep at once.
   */
  async sweep(): Promise<{ requeued: number; stalled: number }> {
    const { store, settings, logger } = this.deps;
    const now = Date.now();
    let stalled = 0;
    for (const task of await store.findByStatus(['running'], RECOVERY_PAGE)) {
      const startedAt = task.startedAt ? Date.parse(task.startedAt) : Date.parse(task.updatedAt);
      if (startedAt + task.timeoutMs + settings.reconcileIntervalMs > now) continue;
      if (await this.takeBack(task, `attempt ${task.attempts} outlived its deadline with no worker answering`))
        stalled++;
    }
    const quietSince = now - settings.reconcileIntervalMs;
    const requeued = await this.enqueueQueued((task) => Date.parse(task.updatedAt) <= quietSince);
    if (stalled > 0)
      logger.warn(
        { stalled },
        `recovery sweep: ${stalled} running attempt(s) outlived their deadline with no worker answering`,
      );
    logger.debug({ requeued, stalled }, 'recovery sweep done');
    return { requeued, stalled };
  }

  /**
   * Ends a running attempt nobody answers for (`why`): the task goes back to the queue, or fails once it has used
   * its attempts and stalls. Returns whether this process made the move (another may have got there first).
   */
  private async takeBack(task: Task, why: string): Promise<boolean> {
    const { store, transitions, settings } = this.deps;
    // Attempts that ended waiting for approval are not failures: each decision started one more.
    const decisions = (await StepLog.read(task.id, (id, after, limit) => store.events(id, after, limit))).decisions;
    const exhausted = task.attempts >= task.maxAttempts + settings.maxStalls + decisions;
    const error = stalledError(exhausted ? `${why}, and the task has no attempts left` : why);
    const moved = exhausted
      ? await transitions.fail(task.id, task.attempts, error)
      : await transitions.stall(task.id, task.attempts, error);
    if (moved && !exhausted) await enqueueTask(this.deps.broker, moved);
    return moved !== undefined;
  }

  /**
   * Enqueues the store's queued tasks that `include` accepts, page by page (ids are time-sortable, so paging by
   * status is stable), until recovery stops; returns how many.
   */
  private async enqueueQueued(include: (task: Task) => boolean): Promise<number> {
    let enqueued = 0;
    let cursor: string | undefined;
    do {
      const page = await this.deps.store.list({ status: ['queued'], limit: RECOVERY_PAGE, cursor });
      const chosen = page.tasks.filter(include);
      await Promise.all(chosen.map((task) => enqueueTask(this.deps.broker, task)));
      enqueued += chosen.length;
      cursor = page.nextCursor;
    } while (cursor && !this.stopping);
    return enqueued;
  }
}
