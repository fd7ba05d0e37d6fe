import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import {
  ErrorCodes,
  OpspawnError,
  OpspawnProblems,
  describeError,
  isOpspawnError,
  isOpspawnPlugin,
  services,
  type BootFailurePolicy,
  type DepsMap,
  type HealthCheckResult,
  type Init,
  type Logger,
  type OpspawnPlugin,
  type PluginEnv,
  type PluginInfo,
  type PluginKind,
  type PluginStatus,
  type Provided,
  type Provider,
  type Token,
} from '@opspawn/plugin-sdk';
import type { LoadedConfig } from '../config/load-config.js';
import { DependencyGraph, type GraphNode } from './dependency-graph.js';
import { LocalEventBus } from './event-bus.js';
import { KernelHealth } from './health.js';
import type { KernelService, ProcessRole } from './kernel-service.js';
import { checkPlugins, type StaticPlan } from './static-checks.js';
import type { PluginSource } from './plugin-source.js';

const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Services every plugin can consume from the moment it starts. */
const ROOT_SERVICES = new Set<string>([
  services.logger.id,
  services.pluginConfig.id,
  services.eventBus.id,
  services.health.id,
  services.plugins.id,
]);

interface Registration {
  token: Token<unknown>;
  provider: Provider<unknown, DepsMap>;
}

/** One plugin's life in this kernel. */
interface PluginRuntime extends GraphNode {
  source: PluginSource;
  status: PluginStatus;
  policy: BootFailurePolicy;
  startTimeoutMs: number;
  logger: Logger;
  container: DependencyContainer;
  options: Record<string, unknown>;
  registrations: Registration[];
  inits: Init[];
  /** Run in reverse on stop. */
  disposers: Array<() => unknown>;
  startMs?: number;
  error?: OpspawnError;
}

export interface StartupReport {
  /** The kernel's own time: checks, imports, register, graph and start. */
  bootMs: number;
  plugins: PluginInfo[];
}

export interface KernelOptions {
  logger: Logger;
  kernelServices?: KernelService<any, any>[];
  /** Default `all`. A `worker` leaves transport plugins inactive; an `api` process runs no tasks. */
  role?: ProcessRole;
  /** Kinds the boot refuses to go without, checked with the others before any plugin code runs. */
  requiredKinds?: readonly PluginKind[];
}

/**
 * The boot story, top to bottom: check every plugin statically, import the survivors, let each register
 * synchronously, check the dependency graph, start plugins in dependency order (independent ones in
 * parallel, each under a timeout and its boot-failure policy), and later stop them in reverse.
 */
export class Kernel {
  readonly eventBus = new LocalEventBus();
  readonly health: KernelHealth;
  private readonly runtimes = new Map<string, PluginRuntime>();
  private readonly kernelNodes = new Map<string, KernelService & GraphNode>();
  private readonly provided = new Map<string, Provided<unknown>[]>();
  /** This kernel's root container; each plugin gets a child of it. */
  private readonly container = rootContainer.createChildContainer();
  private graph?: DependencyGraph<GraphNode>;
  private bootMs = 0;
  private stopped?: Promise<OpspawnError[]>;

  private constructor(
    readonly loaded: LoadedConfig,
    readonly plan: StaticPlan,
    private readonly logger: Logger,
    private readonly kernelServices: KernelService<any, any>[],
    readonly role: ProcessRole,
  ) {
    this.health = new KernelHealth(() => this.pluginHealth());
  }

  static async boot(loaded: LoadedConfig, options: KernelOptions): Promise<Kernel> {
    const started = performance.now();
    const plan = checkPlugins(loaded, { requiredKinds: options.requiredKinds });
    if (plan.problems.length > 0) throw new OpspawnProblems(plan.problems);
    const role = options.role ?? 'all';
    if (role === 'worker') {
      // A plugin of no kind (metrics) runs in every role; one that only serves transports has nothing to serve.
      for (const s of plan.sources)
        if (s.manifest.kinds.length > 0 && s.manifest.kinds.every((kind) => kind === 'transport'))
          plan.inactive.add(s.manifest.id);
    }
    const kernel = new Kernel(loaded, plan, options.logger, options.kernelServices ?? [], role);
    const plugins = await kernel.importPlugins();
    kernel.registerPlugins(plugins);
    kernel.checkGraph();
    await kernel.startAll();
    kernel.bootMs = performance.now() - started;
    return kernel;
  }

  /** A kernel service or a provided extension point. Multiple tokens give every provider's value. */
  get<T>(token: Token<T, false>): T;
  get<T>(token: Token<T, true>): Provided<T>[];
  get<T>(token: Token<T>): T | Provided<T>[] {
    if (token.multiple) return (this.provided.get(token.id) ?? []) as Provided<T>[];
    const root = this.rootService(token.id);
    if (root !== undefined) return root as T;
    const found = this.provided.get(token.id)?.[0];
    if (!found)
      throw new OpspawnError(ErrorCodes.SERVICE_MISSING, `nothing provides '${token.id}' in this deployment`, {
        hint: 'add a plugin that provides it',
      });
    return found.value as T;
  }

  pluginInfos(): PluginInfo[] {
    const infos: PluginInfo[] = [];
    for (const s of this.plan.sources) {
      const rt = this.runtimes.get(s.manifest.id);
      infos.push({
        id: s.manifest.id,
        version: s.manifest.version,
        kinds: s.manifest.kinds,
        source: s.manifest.source,
        packageName: s.manifest.packageName,
        status: rt?.status ?? (this.plan.inactive.has(s.manifest.id) ? 'inactive' : 'registered'),
        startMs: rt?.startMs === undefined ? undefined : round(rt.startMs),
        error: rt?.error ? { code: rt.error.code, message: rt.error.message, phase: rt.error.phase } : undefined,
      });
    }
    for (const s of this.plan.disabled) {
      infos.push({
        id: s.manifest.id,
        version: s.manifest.version,
        kinds: s.manifest.kinds,
        source: s.manifest.source,
        packageName: s.manifest.packageName,
        status: 'disabled',
      });
    }
    return infos;
  }

  report(): StartupReport {
    return { bootMs: round(this.bootMs), plugins: this.pluginInfos() };
  }

  /** Stops every started plugin in reverse dependency order; every stop runs even if one fails. */
  stop(): Promise<OpspawnError[]> {
    this.stopped ??= this.stopAll();
    return this.stopped;
  }

  // ---- boot steps -------------------------------------------------------------------------------

  private async importPlugins(): Promise<Map<string, OpspawnPlugin<unknown>>> {
    const loaded = new Map<string, OpspawnPlugin<unknown>>();
    const failures: OpspawnError[] = [];
    await Promise.all(
      this.activeSources().map(async (s) => {
        try {
          const plugin = s.inline ? s.inline.plugin : await importDefault(s.entryFile!);
          if (!isOpspawnPlugin(plugin)) {
            throw new OpspawnError(
              ErrorCodes.PLUGIN_LOAD_FAILED,
              `plugin '${s.manifest.id}': the default export of ${s.entryFile} is not made with definePlugin()`,
              {
                hint: 'export default definePlugin({ register(env) { ... } })',
                plugin: s.manifest.id,
                phase: 'load',
              },
            );
          }
          loaded.set(s.manifest.id, plugin);
        } catch (error) {
          failures.push(
            isOpspawnError(error)
              ? error
              : new OpspawnError(
                  ErrorCodes.PLUGIN_LOAD_FAILED,
                  `plugin '${s.manifest.id}' failed to load: ${describeError(error)}`,
                  {
                    hint: `check that '${s.manifest.packageName}' is built and its dependencies installed`,
                    plugin: s.manifest.id,
                    phase: 'load',
                    cause: error,
                  },
                ),
          );
        }
      }),
    );
    if (failures.length > 0) throw new OpspawnProblems(failures);
    return loaded;
  }

  private registerPlugins(plugins: Map<string, OpspawnPlugin<unknown>>): void {
    const startTimeout = this.loaded.config.kernel?.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    for (const source of this.activeSources()) {
      const id = source.manifest.id;
      const logger = this.logger.child({ plugin: id });
      const options = this.plan.options.get(id) ?? {};
      const child = this.container.createChildContainer();
      child.register(services.logger.id, { useValue: logger });
      child.register(services.pluginConfig.id, { useValue: options });
      const rt: PluginRuntime = {
        id,
        provides: [],
        consumes: [],
        source,
        status: 'registered',
        logger,
        options,
        container: child,
        policy: source.entry.onBootFailure ?? 'abort',
        startTimeoutMs: source.entry.startTimeoutMs ?? startTimeout,
        registrations: [],
        inits: [],
        disposers: [],
      };
      this.runtimes.set(id, rt);
      try {
        plugins.get(id)!.register(this.pluginEnv(rt));
        rt.provides = rt.registrations.map((r) => r.token.id);
        rt.consumes = [
          ...new Set(
            [...rt.registrations.map((r) => r.provider.deps ?? {}), ...rt.inits.map((i) => i.deps ?? {})].flatMap(
              (deps) => Object.values(deps).map((t) => t.id),
            ),
          ),
        ];
      } catch (error) {
        this.fail(rt, 'register', error, ErrorCodes.PLUGIN_REGISTER_FAILED);
        if (rt.policy === 'abort') throw rt.error;
      }
    }
  }

  private pluginEnv(rt: PluginRuntime): PluginEnv<unknown> {
    const { manifest } = rt.source;
    return {
      id: manifest.id,
      version: manifest.version,
      options: rt.options,
      logger: rt.logger,
      configDir: this.loaded.dir,
      role: this.role,
      provide: (token, provider) => {
        if (token.kind && !manifest.kinds.includes(token.kind)) {
          throw new OpspawnError(
            ErrorCodes.PLUGIN_UNDECLARED_KIND,
            `plugin '${manifest.id}' provides '${token.id}' but its manifest does not list kind '${token.kind}'`,
            {
              hint: `add "${token.kind}" to "opspawn.kinds" in its package.json`,
              plugin: manifest.id,
              phase: 'register',
            },
          );
        }
        rt.registrations.push({ token: token as Token<unknown>, provider: provider as Provider<unknown, DepsMap> });
      },
      registerInit: (init) => {
        rt.inits.push(init as Init);
      },
    };
  }

  /** Before anything is resolved: every consumed token has a provider and nothing depends on itself. */
  private checkGraph(): void {
    const problems: OpspawnError[] = [];
    for (const svc of this.kernelServices) {
      if (svc.isAvailable(this.plan)) {
        this.kernelNodes.set(svc.id, {
          ...svc,
          provides: [svc.token.id],
          consumes: Object.values(svc.deps as DepsMap).map((t) => t.id),
        });
      }
    }
    const nodes = [...this.liveRuntimes(), ...this.kernelNodes.values()];
    const graph = new DependencyGraph<GraphNode>(nodes);
    const multiple = new Set(
      nodes
        .flatMap((n) => this.depsOf(n))
        .filter((t) => t.multiple)
        .map((t) => t.id),
    );
    for (const { node, missing } of graph.findUnsatisfied((t) => ROOT_SERVICES.has(t) || multiple.has(t))) {
      const svc = this.kernelServices.find((k) => k.token.id === missing);
      problems.push(
        new OpspawnError(
          ErrorCodes.SERVICE_MISSING,
          `plugin '${node}' needs '${missing}', which nothing in this deployment provides`,
          {
            hint: svc ? svc.unavailableHint : 'add the plugin that provides it',
            plugin: node,
            phase: 'register',
          },
        ),
      );
    }
    const cycle = graph.findCycle();
    if (cycle) {
      problems.push(
        new OpspawnError(
          ErrorCodes.PLUGIN_CYCLE,
          `plugins depend on each other's services in a cycle: ${cycle.join(' -> ')}`,
          {
            hint: 'break the cycle: one of them must not consume the other',
            plugin: cycle[0],
            phase: 'register',
          },
        ),
      );
    }
    if (problems.length > 0) throw new OpspawnProblems(problems);
    this.graph = graph;
  }

  private async startAll(): Promise<void> {
    let abortError: OpspawnError | undefined;
    await this.graph!.walkInParallel(
      async (id) => {
        if (abortError) return false;
        const kernelNode = this.kernelNodes.get(id);
        if (kernelNode) {
          try {
            const value = await kernelNode.create(this.resolveDeps(kernelNode.deps as DepsMap, this.container), {
              config: this.loaded.config,
              plan: this.plan,
              logger: this.logger.child({ service: id }),
              role: this.role,
            });
            this.addProvided(kernelNode.token, 'kernel', value);
            return true;
          } catch (error) {
            abortError = new OpspawnError(
              ErrorCodes.PLUGIN_START_FAILED,
              `kernel service '${id}' failed to start: ${describeError(error)}`,
              { phase: 'start', cause: error },
            );
            return false;
          }
        }
        const rt = this.runtimes.get(id)!;
        const ok = await this.startPlugin(rt);
        if (ok) return true;
        if (rt.policy === 'abort') abortError ??= rt.error;
        // A failed provider of many-kinds (tools, planners...) leaves its consumers with the other providers.
        return rt.policy === 'continue' && rt.registrations.every((r) => r.token.multiple);
      },
      {
        onBlocked: (id, blocker) => {
          const rt = this.runtimes.get(id);
          if (!rt || abortError) return;
          this.fail(
            rt,
            'start',
            new Error(`not started: it depends on '${blocker}', which failed`),
            ErrorCodes.PLUGIN_START_FAILED,
          );
          if (rt.policy === 'abort') abortError ??= rt.error;
        },
      },
    );
    if (abortError) {
      await this.stop();
      throw abortError;
    }
  }

  private async startPlugin(rt: PluginRuntime): Promise<boolean> {
    rt.status = 'starting';
    const began = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new Error('start timed out'));
        reject(
          new OpspawnError(
            ErrorCodes.PLUGIN_START_TIMEOUT,
            `plugin '${rt.id}' did not finish starting within ${rt.startTimeoutMs} ms`,
            {
              hint: `find what its start waits on, or give it longer: opspawn config set plugins.${rt.id}.startTimeoutMs ${rt.startTimeoutMs * 2}`,
              plugin: rt.id,
              phase: 'start',
            },
          ),
        );
      }, rt.startTimeoutMs);
    });
    try {
      await Promise.race([this.runStart(rt, controller.signal), timeout]);
      rt.status = 'started';
      rt.startMs = performance.now() - began;
      rt.logger.debug({ ms: round(rt.startMs) }, 'started');
      return true;
    } catch (error) {
      rt.startMs = performance.now() - began;
      this.fail(rt, 'start', error, ErrorCodes.PLUGIN_START_FAILED);
      // Whatever did start before the failure is released now.
      await this.runDisposers(rt);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async runStart(rt: PluginRuntime, signal: AbortSignal): Promise<void> {
    const ctx = { signal, container: rt.container };
    for (const { token, provider } of rt.registrations) {
      const value = await provider.create(this.resolveDeps(provider.deps ?? {}, rt.container), ctx);
      if (signal.aborted) {
        await provider.dispose?.(value);
        return;
      }
      if (provider.dispose) rt.disposers.push(() => provider.dispose!(value));
      this.addProvided(token, rt.id, value);
    }
    for (const init of rt.inits) {
      const stop = await init.init(this.resolveDeps(init.deps ?? {}, rt.container), ctx);
      if (typeof stop === 'function') rt.disposers.push(stop);
    }
  }

  private addProvided(token: Token<unknown>, plugin: string, value: unknown): void {
    this.provided.set(token.id, [...(this.provided.get(token.id) ?? []), { plugin, value }]);
    if (!token.multiple) this.container.register(token.id, { useValue: value });
    const health = (value as { health?: () => HealthCheckResult | Promise<HealthCheckResult> } | null)?.health;
    if (typeof health === 'function')
      this.health.register(`${plugin}:${token.id.replace(/^opspawn\./, '')}`, () => health.call(value));
  }

  private resolveDeps(deps: DepsMap, container: DependencyContainer): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, token] of Object.entries(deps)) {
      if (token.multiple) out[name] = [...(this.provided.get(token.id) ?? [])];
      else out[name] = this.rootService(token.id) ?? container.resolve(token.id);
    }
    return out;
  }

  private rootService(id: string): unknown {
    switch (id) {
      case services.eventBus.id:
        return this.eventBus;
      case services.health.id:
        return this.health;
      case services.plugins.id:
        return { list: () => this.pluginInfos() };
      default:
        return undefined;
    }
  }

  private async stopAll(): Promise<OpspawnError[]> {
    this.health.markStopping();
    const errors: OpspawnError[] = [];
    const stopTimeout = this.loaded.config.kernel?.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const graph = this.graph ?? new DependencyGraph<GraphNode>(this.liveRuntimes());
    await graph.walkInParallel(
      async (id) => {
        const kernelNode = this.kernelNodes.get(id);
        if (kernelNode) {
          const value = this.provided.get(kernelNode.token.id)?.[0]?.value;
          if (value !== undefined)
            await withTimeout(Promise.resolve(kernelNode.dispose?.(value)), stopTimeout).catch((e) =>
              errors.push(
                new OpspawnError(
                  ErrorCodes.PLUGIN_STOP_FAILED,
                  `kernel service '${id}' failed to stop: ${describeError(e)}`,
                  { phase: 'stop' },
                ),
              ),
            );
          return true;
        }
        const rt = this.runtimes.get(id);
        if (rt?.status !== 'started') return true;
        rt.status = 'stopping';
        const failure = await withTimeout(this.runDisposers(rt), stopTimeout).catch((e: unknown) => e);
        if (failure) {
          const error = this.fail(rt, 'stop', failure, ErrorCodes.PLUGIN_STOP_FAILED);
          errors.push(error);
        } else {
          rt.status = 'stopped';
        }
        return true;
      },
      { reverse: true },
    );
    return errors;
  }

  /** Runs a plugin's disposers newest first; all run, the first failure is thrown afterwards. */
  private async runDisposers(rt: PluginRuntime): Promise<void> {
    let first: unknown;
    for (const dispose of rt.disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (error) {
        first ??= error;
      }
    }
    if (first !== undefined) throw first;
  }

  private fail(rt: PluginRuntime, phase: string, error: unknown, code: OpspawnError['code']): OpspawnError {
    const wrapped =
      isOpspawnError(error) && error.plugin === rt.id
        ? error
        : new OpspawnError(code, `plugin '${rt.id}' failed in ${phase}: ${describeError(error)}`, {
            hint:
              phase === 'stop'
                ? 'its resources may need manual cleanup'
                : `see the plugin's logs; to boot without it: opspawn config set plugins.${rt.id}.onBootFailure continue`,
            plugin: rt.id,
            phase,
            cause: error,
          });
    rt.status = 'failed';
    rt.error = wrapped;
    rt.logger.error({ code: wrapped.code, phase, err: error instanceof Error ? error : undefined }, wrapped.message);
    return wrapped;
  }

  private activeSources(): PluginSource[] {
    return this.plan.sources.filter((s) => !this.plan.inactive.has(s.manifest.id));
  }

  private liveRuntimes(): PluginRuntime[] {
    return [...this.runtimes.values()].filter((rt) => rt.status !== 'failed');
  }

  private depsOf(node: GraphNode): Token<unknown>[] {
    const rt = this.runtimes.get(node.id);
    if (rt)
      return [...rt.registrations.map((r) => r.provider.deps ?? {}), ...rt.inits.map((i) => i.deps ?? {})].flatMap(
        (d) => Object.values(d),
      );
    const svc = this.kernelNodes.get(node.id);
    return svc ? Object.values(svc.deps as DepsMap) : [];
  }

  private pluginHealth(): Record<string, HealthCheckResult> {
    const out: Record<string, HealthCheckResult> = {};
    for (const rt of this.runtimes.values()) {
      const state =
        rt.status === 'started'
          ? 'ok'
          : rt.status === 'failed'
            ? rt.policy === 'continue'
              ? 'degraded'
              : 'down'
            : 'down';
      out[`plugin:${rt.id}`] = { state, detail: rt.error ? rt.error.toString() : rt.status };
    }
    return out;
  }
}

async function importDefault(file: string): Promise<unknown> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  return mod.default;
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => undefined),
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not stop within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
