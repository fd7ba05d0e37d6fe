import type { Broker, Task } from '@opspawn/plugin-sdk';

/**
 * Puts a queued task on the broker as the job (task, attempts), due at its `notBefore`, which the job carries so a
 * worker can start it without reading it back. Enqueueing the same pair again while its job still waits is
 * harmless, so every path that finds a task queued may call this.
 */
export function enqueueTask(broker: Broker, task: Task): Promise<void> {
  return broker.enqueue(task.id, {
    priority: task.priority,
    delayMs: delayUntil(task.notBefore),
    attempts: task.attempts,
    notBefore: task.notBefore ?? null,
  });
}

/** Milliseconds until `notBefore`; 0 when it has passed or is unset. */
export function delayUntil(notBefore: string | undefined): number {
  return notBefore ? Math.max(0, Date.parse(notBefore) - Date.now()) : 0;
}
