import type { DependencyContainer } from 'tsyringe';
import type { Logger } from './logger.js';
import type { Provided, Token } from './tokens.js';

/** What a plugin asks for: names mapped to tokens. */
export type DepsMap = Record<string, Token<any, boolean>>;

/** The values the kernel hands over for a `DepsMap`: multiple tokens arrive as arrays. */
export type ResolvedDeps<D extends DepsMap> = {
  [K in keyof D]: D[K] extends Token<infer T, infer M> ? (M extends true ? Provided<T>[] : T) : never;
};

export interface StartContext {
  /** Aborted when the plugin's start timeout passes or the kernel stops while it starts. */
  signal: AbortSignal;
  /** The plugin's own tsyringe child container (kernel services are reachable through its parent). */
  container: DependencyContainer;
}

/** How a plugin provides a value for an extension point: created in start, disposed on stop. */
export interface Provider<T, D extends DepsMap = DepsMap> {
  deps?: D;
  create(deps: ResolvedDeps<D>, ctx: StartContext): T | Promise<T>;
  dispose?(value: T): void | Promise<void>;
}

/** Work a plugin does at start that provides nothing others consume (a reporter, a scheduler...). */
export interface Init<D extends DepsMap = DepsMap> {
  deps?: D;
  /** May return a function run on stop. */
  init(
    deps: ResolvedDeps<D>,
    ctx: StartContext,
  ): void | (() => void | Promise<void>) | Promise<void | (() => void | Promise<void>)>;
}

/** Handed to `register`: synchronous, no I/O; declare what the plugin provides and needs. */
export interface PluginEnv<TOptions> {
  readonly id: string;
  readonly version: string;
  /** Validated options with the schema's defaults merged. */
  readonly options: TOptions;
  readonly logger: Logger;
  /**
   * The folder of the deployment's config file (for a config given in code, the folder it was given with). A
   * relative path in the options means a path from here, not from the working directory:
   * `path.resolve(env.configDir, env.options.path)`.
   */
  readonly configDir: string;
  /**
   * What this process runs: `all` (transports and workers), `api` (transports only) or `worker` (tasks only).
   * A plugin of no kind runs in every role and may tell its processes apart by it (a trace's service name).
   */
  readonly role: 'all' | 'api' | 'worker';
  /** `V` may be a subtype of the token's type, so `dispose` sees the concrete class `create` returned. */
  provide<T, V extends T, D extends DepsMap>(token: Token<T, boolean>, provider: Provider<V, D>): void;
  registerInit<D extends DepsMap>(init: Init<D>): void;
}

export interface PluginDefinition<TOptions> {
  register(env: PluginEnv<TOptions>): void;
}

export const PLUGIN_MARKER = '@opspawn/plugin';

export interface OpspawnPlugin<TOptions = unknown> extends PluginDefinition<TOptions> {
  readonly $$type: typeof PLUGIN_MARKER;
}

/** Declares a plugin. Its package's default export must be the result. Identity lives in package.json. */
export function definePlugin<TOptions = Record<string, unknown>>(
  definition: PluginDefinition<TOptions>,
): OpspawnPlugin<TOptions> {
  return { $$type: PLUGIN_MARKER, register: definition.register.bind(definition) };
}

export function isOpspawnPlugin(value: unknown): value is OpspawnPlugin {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $$type?: unknown }).$$type === PLUGIN_MARKER &&
    typeof (value as { register?: unknown }).register === 'function'
  );
}
