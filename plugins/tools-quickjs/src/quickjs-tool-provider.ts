import { resolve } from 'node:path';
import {
  ErrorCodes,
  OpspawnError,
  type HealthCheckResult,
  type Logger,
  type ToolCallContext,
  type ToolCallResult,
  type ToolProvider,
  type ToolSpec,
} from '@opspawn/plugin-sdk';
import { DirectoryWatcher } from './directory-watcher.js';
import { SandboxErrorCodes } from './error-codes.js';
import { settingsFor, withDefaults, type QuickJsToolsOptions } from './options.js';
import type { SandboxOutcome } from './sandbox-protocol.js';
import { ToolCatalog, type DisabledTool, type ToolFileProblem } from './tool-catalog.js';
import { KILL_GRACE_MS, WorkerPool, type PoolStats } from './worker-pool.js';

const MiB = 1024 * 1024;

const silentLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  child: () => silentLogger,
};

/**
 * Tools written in JavaScript, each call run in a fresh QuickJS runtime inside a worker thread. See the
 * package README for the tool file format and the options.
 */
export class QuickJsToolProvider implements ToolProvider {
  readonly namespace: string;
  private readonly options: QuickJsToolsOptions;
  private readonly dirs: string[];
  private readonly pool: WorkerPool;
  private readonly catalog: ToolCatalog;
  private readonly watcher?: DirectoryWatcher;
  private readonly listeners = new Set<() => void>();
  private state: 'new' | 'started' | 'closed' = 'new';
  private loading: Promise<void> = Promise.resolve();

  constructor(
    options: Partial<QuickJsToolsOptions> = {},
    private readonly logger: Logger = silentLogger,
    /** Where relative `dirs` start: the plugin passes the config file's folder. */
    baseDir = process.cwd(),
  ) {
    this.options = withDefaults(options);
    this.namespace = this.options.namespace;
    this.dirs = this.options.dirs.map((d) => resolve(baseDir, d));
    const deepestStack = Math.max(
      this.options.stackSizeBytes,
      ...Object.values(this.options.tools).map((t) => t.stackSizeBytes ?? 0),
    );
    // QuickJS's own stack check must trip before the worker thread's native stack runs out.
    this.pool = new WorkerPool(
      this.options.workers,
      Math.max(4, Math.ceil((deepestStack * 8) / MiB)),
      this.options.memoryLimitBytes,
      logger,
    );
    this.catalog = new ToolCatalog(this.dirs, this.options, (file, source) => this.describe(file, source), logger);
    if (this.options.watch)
      this.watcher = new DirectoryWatcher(this.dirs, this.options.watchDebounceMs, () => void this.reload(), logger);
  }

  /** Starts the workers and loads the tool directories; broken files are reported, not fatal. */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new OpspawnError(ErrorCodes.PLUGIN_START_FAILED, `QuickJsToolProvider cannot start: it is ${this.state}`, {
        plugin: 'tools-quickjs',
        hint: 'a provider starts once: create a new QuickJsToolProvider to start again',
      });
    await this.pool.start();
    this.state = 'started';
    await this.catalog.load();
    this.watcher?.start();
    this.logger.info(
      { tools: this.catalog.specs().map((s) => s.name), dirs: this.dirs },
      `loaded ${this.catalog.specs().length} sandboxed tools`,
    );
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.watcher?.close();
    this.listeners.clear();
    await this.pool.close();
  }

  async list(): Promise<ToolSpec[]> {
    await this.loading;
    return this.catalog.specs();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the directories again now (the watcher does this on its own); listeners hear of any change. */
  reload(): Promise<void> {
    this.loading = this.loading.then(async () => {
      if (this.state !== 'started') return;
      let changed = false;
      try {
        changed = await this.catalog.load();
      } catch (error) {
        this.logger.error({ err: error }, `reloading tool directories failed: ${(error as Error).message}`);
      }
      if (!changed || this.state !== 'started') return;
      this.logger.info({ tools: this.catalog.specs().map((s) => s.name) }, 'sandboxed tools changed');
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch (error) {
          this.logger.warn({ err: error }, 'a tool-change listener threw');
        }
      }
    });
    return this.loading;
  }

  async call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolCallResult> {
    if (this.state !== 'started')
      throw new OpspawnError(
        ErrorCodes.TOOL_FAILED,
        `tool '${name}' cannot run: the QuickJS tool provider is ${this.state === 'new' ? 'not started' : 'closed'}`,
      );
    await this.loading;
    const tool = this.catalog.get(name);
    if (!tool) {
      const known =
        this.catalog
          .specs()
          .map((s) => s.name)
          .join(', ') || 'none';
      throw new OpspawnError(ErrorCodes.TOOL_NOT_FOUND, `no sandboxed tool named '${name}'`, {
        hint: `known tools: ${known}`,
        details: { problems: this.catalog.fileProblems },
      });
    }
    let inputJson: string | undefined;
    try {
      inputJson = JSON.stringify(args ?? {});
    } catch (error) {
      throw new OpspawnError(
        ErrorCodes.TOOL_INVALID_ARGUMENTS,
        `arguments for '${name}' are not JSON: ${(error as Error).message}`,
      );
    }
    if (inputJson === undefined)
      throw new OpspawnError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `arguments for '${name}' are not JSON`);
    const { limits, grants } = settingsFor(this.options, name, tool.capabilities);
    const deadline = Math.min(Date.now() + limits.timeoutMs, Number.isFinite(ctx.deadline) ? ctx.deadline : Infinity);
    const outcome = await this.pool.run(
      { kind: 'call', tool: name, file: tool.file, source: tool.source, inputJson, limits, grants, deadline },
      { signal: ctx.signal, killAt: deadline + KILL_GRACE_MS, onLog: (level, message) => ctx.log(level, message) },
    );
    return toResult(outcome);
  }

  /** `down` until started and after close; `degraded` while a tool file or directory is broken. */
  health(): HealthCheckResult {
    if (this.state !== 'started') return { state: 'down', detail: this.state === 'new' ? 'not started' : 'closed' };
    const broken = this.pool.broken;
    if (broken) return { state: 'down', detail: broken };
    const { workers } = this.pool.stats;
    const tools = this.catalog.specs().length;
    const summary = `${tools} tools, ${workers}/${this.options.workers} sandbox workers`;
    const problems = this.catalog.fileProblems;
    if (problems.length > 0)
      return {
        state: 'degraded',
        detail: `${summary}; ${problems.length} skipped: ${problems.map((p) => `${p.file}: ${p.message}`).join('; ')}`,
      };
    const disabled = this.catalog.disabledTools;
    return {
      state: 'ok',
      detail:
        disabled.length > 0
          ? `${summary}; not offered for lack of a capability: ${disabled.map((d) => d.name).join(', ')}`
          : summary,
    };
  }

  /** Files and directories that gave no tool, each with the reason. */
  problems(): readonly ToolFileProblem[] {
    return this.catalog.fileProblems;
  }

  /** Valid tools left out because the config does not grant a capability they declare. */
  disabledTools(): readonly DisabledTool[] {
    return this.catalog.disabledTools;
  }

  stats(): PoolStats {
    return this.pool.stats;
  }

  private async describe(file: string, source: string): Promise<SandboxOutcome> {
    const limits = settingsFor(this.options, '', []).limits;
    // The time limit counts from when a worker takes the file: every file of a directory queues at once at start,
    // and on a busy machine the last ones would otherwise spend their limit waiting behind the others.
    return this.pool.run(
      { kind: 'describe', file, source, limits, deadline: Number.POSITIVE_INFINITY },
      {
        limitFromStartMs: limits.timeoutMs,
        onLog: (level, message) => this.logger[level]({ file }, `${file} (while loading): ${message}`),
      },
    );
  }
}

function toResult(outcome: SandboxOutcome): ToolCallResult {
  if (!outcome.ok) return { isError: true, output: { code: outcome.code, message: outcome.message } };
  return { output: JSON.parse(outcome.json) as unknown };
}

export { SandboxErrorCodes };
