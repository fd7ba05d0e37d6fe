import type { TaskEngineConfig } from '@opspawn/plugin-sdk';

/** Defaults of the `tasks` section of the config, in one place (documented in docs/reference/task-model.md). */
export const TASK_DEFAULTS: Required<TaskEngineConfig> = {
  // Most of a task's life is spent waiting on a model or a remote tool, so the cap is sized for waiting tasks, not
  // for cores (ADR 0024): 1,000 waiting tasks peaked at about 200 MB in its bench. Sandboxed CPU work has its own cap
  // in its plugin.
  concurrency: 1000,
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

/** The config's settings over the defaults; a key present but undefined (`Number(env.X)` guarded) keeps its default. */
export function taskSettings(config: TaskEngineConfig | undefined): Required<TaskEngineConfig> {
  const given = Object.entries(config ?? {}).filter(([, value]) => value !== undefined);
  return { ...TASK_DEFAULTS, ...Object.fromEntries(given) };
}
