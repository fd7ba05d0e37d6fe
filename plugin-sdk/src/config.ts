import type { AgentDefinition } from './agent.js';
import type { PluginManifest } from './manifest.js';
import type { OpspawnPlugin } from './plugin.js';
import type { ScheduleSpec } from './schedule.js';

/**
 * Plugins add their options type here, so `plugin('@opspawn/store-sqlite', { ... })` is checked and completed:
 *
 *     declare module '@opspawn/plugin-sdk' {
 *       interface PluginOptionsRegistry { '@opspawn/store-sqlite': SqliteStoreOptions }
 *     }
 */
// biome-ignore lint/suspicious/noEmptyInterface: an interface, so that plugins can merge their options into it
export interface PluginOptionsRegistry {}

export type BootFailurePolicy = 'abort' | 'continue';

/** A plugin defined in code rather than in a package: for tests and embedding. */
export interface InlinePlugin {
  manifest: PluginManifest & { version: string };
  plugin: OpspawnPlugin<any>;
}

export interface PluginEntryCommon {
  /** false keeps the entry and its options but does not load the plugin. Default true. */
  enabled?: boolean;
  /** What a failure to start does: stop the boot (default) or record it and go on without the plugin. */
  onBootFailure?: BootFailurePolicy;
  /** Milliseconds the plugin's start may take; defaults to `kernel.startTimeoutMs`. */
  startTimeoutMs?: number;
}

export interface PluginEntry extends PluginEntryCommon {
  /** An npm package name, a path (relative to the config file), or an inline plugin. */
  use: string | InlinePlugin;
  options?: Record<string, unknown>;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface TaskEngineConfig {
  /**
   * Tasks run at once by this process's worker. Default 1000: sized for tasks that wait on models and remote tools;
   * sandboxed CPU work has its own cap in its plugin.
   */
  concurrency?: number;
  defaultTimeoutMs?: number;
  defaultMaxAttempts?: number;
  defaultMaxSteps?: number;
  /** Base of the exponential retry backoff. Default 1000 ms. */
  retryBackoffMs?: number;
  /** Upper bound of one retry delay. Default 60000 ms. */
  maxRetryBackoffMs?: number;
  /** Serialized tool results larger than this are refused. Default 256 KiB. */
  maxToolResultBytes?: number;
  /** Milliseconds one tool call may take unless the task's deadline is sooner. Default 60000. */
  toolTimeoutMs?: number;
  /**
   * Re-queue the store's unfinished tasks at start when the broker keeps no state (embedded hosts). Default true;
   * `opspawn run` turns it off so a one-shot run next to a running host does not take over its tasks.
   */
  recoverOnStart?: boolean;
  /**
   * How many times one task may be taken back from a worker that stopped answering before it fails with
   * OPSPAWN_TASK_STALLED: a task that kills every worker it runs on must not take the fleet down. Default 3.
   */
  maxStalls?: number;
  /**
   * With a durable broker, each worker process sweeps the store this often for work the broker lost (queued
   * tasks untouched for this long, running tasks past their deadline) and hands it back. Default 30000 ms.
   */
  reconcileIntervalMs?: number;
  /**
   * With a durable broker: how long a running attempt's lease lasts. Its worker renews it every third of this; an
   * attempt whose lease ran out (its worker died, even where the broker cannot see it) is taken back by the other
   * workers' recovery within about this long, whatever the task's timeout. Default 15000 ms.
   */
  leaseMs?: number;
  /**
   * How deep handoffs may nest: a task this many handoffs below a top-level task cannot hand off again (its call
   * fails with OPSPAWN_HANDOFF_DEPTH_EXCEEDED). Default 3.
   */
  maxHandoffDepth?: number;
  /** Child tasks one task may start by handing off, over all its attempts (OPSPAWN_HANDOFF_FAN_OUT_EXCEEDED). Default 10. */
  maxChildren?: number;
  /**
   * Whether this process upserts the config's schedules and fires due ones. Default true; `opspawn run` turns it off,
   * so a one-shot run beside a running host leaves the schedules to that host.
   */
  runScheduler?: boolean;
  /** How often the scheduler looks for due schedules at most (it also wakes at the next due time it knows). Default 5000. */
  schedulePollMs?: number;
  /**
   * A due time found later than this after it passed counts as missed (the scheduler was down): `missed: 'skip'`
   * does not fire it. Default 60000.
   */
  scheduleLateAfterMs?: number;
  /** How long finished tasks and their events are kept (see docs/reference/config.md for the defaults). */
  retention?: TaskRetentionConfig;
}

/**
 * Finished tasks are deleted, with their events, once they are older than `maxAgeMs` (by `finishedAt`) or beyond
 * the newest `maxCount` of their status, whichever comes first. `null` turns a limit off.
 */
export interface TaskRetentionConfig {
  succeeded?: RetentionLimits;
  failed?: RetentionLimits;
  cancelled?: RetentionLimits;
  /** How often each process that runs tasks makes a pass. Default 600000 (10 minutes). */
  intervalMs?: number;
  /** Tasks deleted per statement, so one pass never holds the store for long. Default 500. */
  batchSize?: number;
}

export interface RetentionLimits {
  maxAgeMs?: number | null;
  maxCount?: number | null;
}

export interface OpspawnConfig {
  plugins: Array<string | PluginEntry>;
  /** Id of the active store plugin; needed when several are enabled. */
  store?: string;
  /** Id of the active broker plugin; needed when several are enabled. */
  broker?: string;
  /** Id of the default planner plugin; needed when several are enabled. */
  planner?: string;
  /** Id of the default memory plugin; needed when several are enabled. */
  memory?: string;
  /** Agents by id (lowercase letters, digits, `-`, `_`). */
  agents?: Record<string, AgentDefinition>;
  /** The agent a task runs when it names none; without it such a task runs unscoped, with every tool. */
  defaultAgent?: string;
  /**
   * Schedules by id: each submits a task for an agent on a cron expression or a fixed interval. Upserted at every
   * start (the config wins over API changes); see docs/how-to/run-agents-on-a-schedule.md.
   */
  schedules?: Record<string, ScheduleSpec>;
  log?: { level?: LogLevel; pretty?: boolean };
  kernel?: { startTimeoutMs?: number; stopTimeoutMs?: number };
  tasks?: TaskEngineConfig;
}

/** Identity function that gives `opspawn.config.ts` its types. */
export function defineConfig(config: OpspawnConfig): OpspawnConfig {
  return config;
}

type KnownPluginName = keyof PluginOptionsRegistry & string;

/** Options of a plugin by package name: its registered type when it has one, any object otherwise. */
export type PluginOptionsOf<N extends string> = N extends KnownPluginName
  ? PluginOptionsRegistry[N]
  : Record<string, unknown>;

/**
 * A plugin entry, with options type-checked (and completed in editors) for plugins that registered their
 * options type; `(string & {})` keeps completion of known names while allowing any package or path.
 */
export function plugin<N extends KnownPluginName | (string & {})>(
  use: N | InlinePlugin,
  options?: PluginOptionsOf<N>,
  common: PluginEntryCommon = {},
): PluginEntry {
  return { use, options: options as Record<string, unknown> | undefined, ...common };
}
