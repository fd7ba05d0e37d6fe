import { availableParallelism } from 'node:os';

/** Limits one sandboxed call runs under. */
export interface SandboxLimits {
  /** Wall-clock milliseconds one call may take (the task's deadline may cut it shorter). */
  timeoutMs: number;
  /** Bytes the QuickJS heap may grow to. */
  memoryLimitBytes: number;
  /** Bytes of QuickJS stack (bounds recursion depth). */
  stackSizeBytes: number;
  /** Bytes of serialized JSON a call may return. */
  maxOutputBytes: number;
}

/** The `fetch` capability: HTTP(S) to listed hosts only. */
export interface FetchCapability {
  /** `example.com` (any port), `example.com:8443` (that port) or `*.example.com` (its subdomains). */
  allowHosts: string[];
  /** Milliseconds one request may take, headers and body included. */
  timeoutMs?: number;
  /** Bytes of response body read before the request is refused. */
  maxResponseBytes?: number;
  /** HTTP methods a tool may use. */
  methods?: string[];
  /** Requests one call may make. */
  maxRequests?: number;
}

/** Named capabilities the config grants; a tool only gets the ones it also declares. */
export interface Capabilities {
  fetch?: FetchCapability;
}

export type CapabilityName = keyof Capabilities;
export const CAPABILITY_NAMES: readonly CapabilityName[] = ['fetch'];

/** Per-tool overrides, keyed by the tool's name (without namespace). */
export interface ToolOverrides extends Partial<SandboxLimits> {
  /** Replaces the top-level `capabilities` for this tool. */
  capabilities?: Capabilities;
}

export interface QuickJsToolsOptions extends SandboxLimits {
  /** Directories of tool files, relative to the process's working directory. */
  dirs: string[];
  /** Prefix of every tool name (`js__calculate`). */
  namespace: string;
  /**
   * Worker threads, each running one call at a time: the cap on sandboxed calls running at once (the CPU-bound part
   * of a host's work). More calls wait in order for a free worker, or until their deadline. Default: the CPU cores.
   */
  workers: number;
  /** Reload a directory when its files change. */
  watch: boolean;
  /** Quiet period after a change before the directory is read again. */
  watchDebounceMs: number;
  /** Capabilities granted to every tool that declares them. */
  capabilities: Capabilities;
  tools: Record<string, ToolOverrides>;
}

/**
 * The same defaults as the configSchema in package.json (a test keeps them equal). `workers` has none there: it
 * follows the machine (defaultWorkers).
 */
export const DEFAULT_OPTIONS: Omit<QuickJsToolsOptions, 'workers'> = {
  dirs: ['./config/tools'],
  namespace: 'js',
  timeoutMs: 5000,
  memoryLimitBytes: 32 * 1024 * 1024,
  stackSizeBytes: 512 * 1024,
  maxOutputBytes: 256 * 1024,
  watch: true,
  watchDebounceMs: 100,
  capabilities: {},
  tools: {},
};

export const FETCH_DEFAULTS: Required<Omit<FetchCapability, 'allowHosts'>> = {
  timeoutMs: 10_000,
  maxResponseBytes: 1024 * 1024,
  methods: ['GET', 'HEAD'],
  maxRequests: 10,
};

/** The most workers the config accepts (the configSchema's maximum). */
export const MAX_WORKERS = 64;

/** One worker per CPU core: sandboxed calls are CPU-bound, so more would only queue inside the operating system. */
export function defaultWorkers(): number {
  return Math.min(MAX_WORKERS, Math.max(1, availableParallelism()));
}

export function withDefaults(options: Partial<QuickJsToolsOptions>): QuickJsToolsOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_OPTIONS, workers: defaultWorkers(), ...defined };
}

/** A fetch grant with every field filled in. */
export type FetchGrant = Required<FetchCapability>;

/** What one call of one tool may do. */
export interface ToolSettings {
  limits: SandboxLimits;
  grants: { fetch?: FetchGrant };
}

/** The limits and grants of `tool`: its overrides over the top-level options, capabilities cut to what it declares. */
export function settingsFor(options: QuickJsToolsOptions, tool: string, declared: readonly string[]): ToolSettings {
  const override = options.tools[tool] ?? {};
  const limits: SandboxLimits = {
    timeoutMs: override.timeoutMs ?? options.timeoutMs,
    memoryLimitBytes: override.memoryLimitBytes ?? options.memoryLimitBytes,
    stackSizeBytes: override.stackSizeBytes ?? options.stackSizeBytes,
    maxOutputBytes: override.maxOutputBytes ?? options.maxOutputBytes,
  };
  const granted = override.capabilities ?? options.capabilities;
  const grants: ToolSettings['grants'] = {};
  if (declared.includes('fetch') && granted.fetch) grants.fetch = { ...FETCH_DEFAULTS, ...granted.fetch };
  return { limits, grants };
}

/** The capabilities `tool` declares but the config does not grant it. */
export function missingGrants(options: QuickJsToolsOptions, tool: string, declared: readonly string[]): string[] {
  const granted = options.tools[tool]?.capabilities ?? options.capabilities;
  return declared.filter((name) => granted[name as CapabilityName] === undefined);
}
