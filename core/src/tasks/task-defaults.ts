import type { TaskEngineConfig } from '@opspawn/plugin-sdk';

/** Defaults of the `tasks` section of the config, in one place (documented in docs/reference/task-model.md). */
export const TASK_DEFAULTS: Required<TaskEngineConfig> = {
  concurrency: 16,
  defaultTimeoutMs: 300_000,
  defaultMaxAttempts: 3,
  defaultMaxSteps: 20,
  retryBackoffMs: 1000,
  maxRetryBackoffMs: 60_000,
  maxToolResultBytes: 262_144,
  toolTimeoutMs: 60_000,
  recoverOnStart: true,
  maxStalls: 3,
  reconcileIntervalMs: 30_000,
  leaseMs: 15_000,
  maxHandoffDepth: 3,
  maxChildren: 10,
  runScheduler: true,
  schedulePollMs: 5000,
  scheduleLateAfterMs: 60_000,
  retention: {},
};

export function taskSettings(config: TaskEngineConfig | undefined): Required<TaskEngineConfig> {
  return { ...TASK_DEFAULTS, ...config };
}
