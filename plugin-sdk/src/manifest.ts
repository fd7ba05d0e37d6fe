/** The six extension points a plugin can provide. */
export const PLUGIN_KINDS = ['store', 'broker', 'planner', 'memory', 'tool-provider', 'transport'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** Kinds of which exactly one provider is active; the config chooses when several are present. */
export const SINGLE_KINDS = ['store', 'broker'] as const satisfies readonly PluginKind[];
/** Kinds of which many are active and one is the default the config chooses when several are present. */
export const DEFAULT_KINDS = ['planner', 'memory'] as const satisfies readonly PluginKind[];

/**
 * The `opspawn` field of a plugin's package.json. It is data: the kernel reads and checks it before any plugin
 * code runs. The plugin's version is the package's `version`.
 */
export interface PluginManifest {
  /** Unique id within a deployment, e.g. `store-sqlite`. Lowercase letters, digits and dashes. */
  id: string;
  /** Extension points this plugin provides. */
  kinds: PluginKind[];
  /** Semver range of kernel API versions this plugin supports, e.g. `^1.0.0`. */
  kernel: string;
  /** Plugins this one needs, by id, with the semver range of their versions it accepts. */
  requires?: Record<string, string>;
  /** JSON Schema (draft 2020-12 subset understood by ajv) of the plugin's options; defaults are merged. */
  configSchema?: Record<string, unknown>;
  /** One line saying what the plugin is for (shown by `opspawn plugins inspect`). */
  description?: string;
}

/** A manifest together with where it came from: what the kernel works with after reading package.json. */
export interface ResolvedManifest extends PluginManifest {
  version: string;
  packageName: string;
  /** Absolute directory of the plugin package. */
  dir: string;
  /** How the config named it: an npm package name or a path. */
  source: string;
}
