import { ErrorCodes, type Task, type TaskError, type TaskEventData, type TokenUsage } from '@opspawn/plugin-sdk';
import type { TaskEvents } from './task-events.js';

/** The error of every cancelled task, whether it was queued or running when the request came. */
export const CANCELLED_ON_REQUEST: TaskError = { code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' };

/** An attempt that ended without an outcome because its worker or host stopped; `message` says which. */
export function stalledError(message: string): TaskError {
  return { code: ErrorCodes.TASK_STALLED, message };
}

/**
 * The moves of docs/explanation/task-lifecycle.md, one method each. Every move is a compare-and-set in the store
 * written with the `status` event announcing it: it applies only while the task is in the state it leaves and on
 * the attempt named, and returns the moved task, or undefined when another delivery, worker or request got there
 * first. That is what gives a task exactly one final state under at-least-once delivery.
 */
export class TaskTransitions {
  constructor(private readonly events: TaskEvents) {}

  /** queued → running: a worker takes the task; its attempts count up by one, and the attempt holds a lease. */
  start(
    task: Pick<Task, 'id' | 'attempts'>,
    worker: string,
    leaseExpiresAt: string | undefined,
  ): Promise<Task | undefined> {
    const attempt = task.attempts + 1;
    return this.events.move(
      task.id,
      ['queued'],
      {
        status: 'running',
        attempts: attempt,
        startedAt: now(),
        finishedAt: null,
        leaseExpiresAt: leaseExpiresAt ?? null,
      },
      task.attempts,
      { attempt, worker },
    );
  }

  /**
   * The moves that end an attempt take the attempt's token tally (`UsageTally.change()`): the task's new usage
   * total, written with the move, or nothing when no planner call reported usage.
   */

  /**
   * running → succeeded: the attempt's final answer is the task's output. `final`, the answer's event when no
   * earlier attempt stored it, is written with the move (ADR 0022).
   */
  succeed(
    id: string,
    attempt: number,
    output: unknown,
    usage: UsageChange = {},
    final?: TaskEventData<'final'>,
  ): Promise<Task | undefined> {
    return this.events.move(
      id,
      ['running'],
      { status: 'succeeded', output, error: null, finishedAt: now(), ...NO_LEASE, ...usage },
      attempt,
      { attempt },
      final ? [{ type: 'final', data: final }] : [],
    );
  }

  /** running → failed: the attempt failed and another would not help, or none is left. */
  fail(id: string, attempt: number, error: TaskError, usage: UsageChange = {}): Promise<Task | undefined> {
    return this.events.move(
      id,
      ['running'],
      { status: 'failed', error, finishedAt: now(), ...NO_LEASE, ...usage },
      attempt,
      { attempt, error },
    );
  }

  /**
   * running → queued: the attempt failed with attempts left; the task is delivered again after `retryInMs`, which
   * `notBefore` records, so whoever starts a queued task (a recovery, a parent running its child) honours it too.
   */
  retry(
    id: string,
    attempt: number,
    error: TaskError,
    retryInMs: number,
    usage: UsageChange = {},
  ): Promise<Task | undefined> {
    const notBefore = new Date(Date.now() + retryInMs).toISOString();
    return this.events.move(id, ['running'], { status: 'queued', error, notBefore, ...NO_LEASE, ...usage }, attempt, {
      attempt,
      error,
      retryInMs,
    });
  }

  /**
   * running → waiting_approval: the attempt stopped before a call that waits for a person (its `approval_requested`
   * event is stored). The attempt ends; no lease is held until a decision queues the task again.
   */
  wait(id: string, attempt: number, usage: UsageChange = {}): Promise<Task | undefined> {
    return this.events.move(id, ['running'], { status: 'waiting_approval', ...NO_LEASE, ...usage }, attempt, {
      attempt,
    });
  }

  /**
   * waiting_approval → queued: a decision on the waiting call, written with the move as its `approval_decided`
   * event (one atomic step when the store offers it), so a second decision finds the task moved and is refused. The
   * `status` event follows.
   */
  async decide(task: Task, decision: TaskEventData<'approval_decided'>): Promise<Task | undefined> {
    return this.events.moveWith(
      task.id,
      ['waiting_approval'],
      { status: 'queued', notBefore: null },
      task.attempts,
      { type: 'approval_decided', data: decision },
      { attempt: task.attempts },
    );
  }

  /** waiting_approval → failed: the waiting call's request expired with no decision. */
  expire(task: Task, error: TaskError): Promise<Task | undefined> {
    return this.events.move(
      task.id,
      ['waiting_approval'],
      { status: 'failed', error, finishedAt: now(), ...NO_LEASE },
      task.attempts,
      { attempt: task.attempts, error },
    );
  }

  /**
   * queued → cancelled (no worker runs it), or running → cancelled (its attempt stopped on the request). A user's
   * cancel of a queued task applies on whatever attempt the task is (`anyAttempt`), so a retry that re-queued the
   * task in between does not make the request miss.
   */
  cancel(
    id: string,
    from: 'queued' | 'running' | 'waiting_approval',
    attempt: number,
    options: { anyAttempt?: boolean; usage?: UsageChange } = {},
  ): Promise<Task | undefined> {
    return this.events.move(
      id,
      [from],
      { status: 'cancelled', error: CANCELLED_ON_REQUEST, finishedAt: now(), ...NO_LEASE, ...options.usage },
      options.anyAttempt ? undefined : attempt,
      { attempt, error: CANCELLED_ON_REQUEST },
    );
  }

  /**
   * running → queued: the attempt ended without an outcome because its worker or host stopped. The attempt stays
   * counted. `stalls`, when a broker took the delivery back from a dead worker, is how often that has happened.
   */
  stall(
    id: string,
    attempt: number,
    error: TaskError,
    stalls?: number,
    usage: UsageChange = {},
  ): Promise<Task | undefined> {
    return this.events.move(
      id,
      ['running'],
      { status: 'queued', error, ...NO_LEASE, ...usage },
      attempt,
      stalls === undefined ? { attempt, error } : { attempt, error, stalls },
    );
  }
}

/** The token total an attempt's settling move writes, if the attempt reported usage. */
type UsageChange = { usage?: TokenUsage };

/** Leaving `running` ends the attempt's lease. */
const NO_LEASE = { leaseExpiresAt: null } as const;

function now(): string {
  return new Date().toISOString();
}
