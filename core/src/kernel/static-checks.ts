import { existsSync } from 'node:fs';
import semver from 'semver';
import {
  DEFAULT_KINDS,
  ErrorCodes,
  KERNEL_API_VERSION,
  OpspawnError,
  PLUGIN_KINDS,
  SINGLE_KINDS,
  type PluginKind,
} from '@opspawn/plugin-sdk';
import { checkAgents } from '../agents/agent-checks.js';
import { checkConfigSchedules } from '../schedules/schedule-checks.js';
import { createAjv, describeAjvError } from '../config/ajv.js';
import type { LoadedConfig } from '../config/load-config.js';
import { DependencyGraph } from './dependency-graph.js';
import { readPluginSource, type PluginSource } from './plugin-source.js';

const ID = /^[a-z][a-z0-9-]{0,62}$/;

/** What the static checks decided: which plugins load, with which options, and which provider of each kind is active. */
export interface StaticPlan {
  /** Enabled plugins that passed every check, in config order. */
  sources: PluginSource[];
  disabled: PluginSource[];
  /** Validated options with defaults merged, by plugin id. */
  options: Map<string, Record<string, unknown>>;
  /** Active provider per single kind and default per many-kind, when there is one. */
  chosen: Partial<Record<PluginKind, string>>;
  /** Plugins that provide only kinds of which another provider was chosen: not started. */
  inactive: Set<string>;
  problems: OpspawnError[];
}

export interface StaticCheckOptions {
  /**
   * Kinds this process cannot do without (a host that runs tasks needs a store and a broker). Left out by what
   * boots a kernel for other work, such as a plugin's tests.
   */
  requiredKinds?: readonly PluginKind[];
}

/** The package that gives a deployment each kind on one machine, as the fix of a missing kind names it. */
export const EMBEDDED_PROVIDERS = {
  store: '@opspawn/store-sqlite',
  broker: '@opspawn/broker-memory',
  planner: '@opspawn/planner-scripted',
  memory: '@opspawn/memory-buffer',
} as const satisfies Partial<Record<PluginKind, string>>;

/**
 * Every check that needs no plugin code: manifests, kernel ranges, required plugins, duplicates, kinds,
 * cycles between required plugins, and options against each plugin's schema. All problems are collected.
 */
export function checkPlugins(loaded: LoadedConfig, checks: StaticCheckOptions = {}): StaticPlan {
  const problems: OpspawnError[] = [];
  const all: PluginSource[] = [];
  loaded.config.plugins.forEach((entry, index) => {
    try {
      all.push(readPluginSource(entry, index, loaded.dir));
    } catch (error) {
      problems.push(error as OpspawnError);
    }
  });

  const valid = all.filter((s) => checkManifest(s, problems) && checkEntryFile(s, problems));
  const sources: PluginSource[] = [];
  const disabled: PluginSource[] = [];
  const byId = new Map<string, PluginSource>();
  for (const s of valid) {
    const other = byId.get(s.manifest.id);
    if (other) {
      problems.push(
        new OpspawnError(
          ErrorCodes.PLUGIN_DUPLICATE,
          `plugin '${s.manifest.id}' is declared twice: plugins[${other.index}] (${other.manifest.source}) and plugins[${s.index}] (${s.manifest.source})`,
          {
            hint: `remove one of the two: opspawn plugins remove ${typeof s.entry.use === 'string' ? s.entry.use : s.manifest.id}`,
            plugin: s.manifest.id,
          },
        ),
      );
      continue;
    }
    byId.set(s.manifest.id, s);
    (s.entry.enabled === false ? disabled : sources).push(s);
  }
  const enabled = new Map(sources.map((s) => [s.manifest.id, s]));

  for (const s of sources) {
    const { id, kernel, requires = {} } = s.manifest;
    if (!semver.satisfies(KERNEL_API_VERSION, kernel, { includePrerelease: true })) {
      problems.push(
        new OpspawnError(
          ErrorCodes.PLUGIN_KERNEL_MISMATCH,
          `plugin '${id}' supports kernel ${kernel}, this kernel is ${KERNEL_API_VERSION}`,
          {
            hint: `install a version of '${s.manifest.packageName}' built for kernel ${KERNEL_API_VERSION}`,
            plugin: id,
          },
        ),
      );
    }
    for (const [dep, range] of Object.entries(requires)) {
      const found = enabled.get(dep);
      if (!found) {
        const off = byId.has(dep) ? ' (it is disabled)' : '';
        problems.push(
          new OpspawnError(
            ErrorCodes.PLUGIN_DEPENDENCY_MISSING,
            `plugin '${id}' requires plugin '${dep}' ${range}, which is not in the config${off}`,
            {
              hint: byId.has(dep) ? `opspawn plugins enable ${dep}` : `opspawn plugins add <the package of '${dep}'>`,
              plugin: id,
            },
          ),
        );
      } else if (!semver.satisfies(found.manifest.version, range, { includePrerelease: true })) {
        problems.push(
          new OpspawnError(
            ErrorCodes.PLUGIN_DEPENDENCY_VERSION,
            `plugin '${id}' requires plugin '${dep}' ${range}, found ${found.manifest.version}`,
            {
              hint: `install a version of '${dep}' matching ${range}`,
              plugin: id,
            },
          ),
        );
      }
    }
  }

  const cycle = new DependencyGraph(
    sources.map((s) => ({
      id: s.manifest.id,
      provides: [`plugin:${s.manifest.id}`],
      consumes: Object.keys(s.manifest.requires ?? {}).map((d) => `plugin:${d}`),
    })),
  ).findCycle();
  if (cycle) {
    problems.push(
      new OpspawnError(ErrorCodes.PLUGIN_CYCLE, `plugins require each other in a cycle: ${cycle.join(' -> ')}`, {
        hint: 'remove one of the requirements',
        plugin: cycle[0],
      }),
    );
  }

  const { chosen, inactive } = chooseProviders(loaded, sources, disabled, problems);
  const missing = missingKinds(checks.requiredKinds ?? [], sources, disabled);
  if (missing) problems.push(missing);
  const options = validateOptions(sources, problems);
  const providersOf = (kind: PluginKind) =>
    sources.filter((s) => s.manifest.kinds.includes(kind)).map((s) => s.manifest.id);
  problems.push(
    ...checkAgents(loaded.config.agents, loaded.config.defaultAgent, {
      planners: providersOf('planner'),
      memories: providersOf('memory'),
      chosen,
    }),
    ...checkConfigSchedules(loaded.config.schedules, loaded.config.agents),
  );
  return { sources, disabled, options, chosen, inactive, problems };
}

function checkManifest(s: PluginSource, problems: OpspawnError[]): boolean {
  const m = s.manifest;
  const where = `plugin '${m.id || m.source}'`;
  const bad = (message: string, hint: string): void => {
    problems.push(
      new OpspawnError(ErrorCodes.PLUGIN_MANIFEST_INVALID, `${where}: ${message}`, { hint, plugin: m.id || m.source }),
    );
  };
  const raw = s.rawManifest as Record<string, unknown>;
  if (!ID.test(m.id)) {
    bad(
      `manifest id ${JSON.stringify(raw.id)} must be lowercase letters, digits and dashes`,
      'set "opspawn.id" in its package.json',
    );
    return false;
  }
  if (!semver.validRange(m.kernel)) {
    bad(`manifest "kernel" ${JSON.stringify(raw.kernel)} is not a semver range`, 'set "opspawn.kernel", e.g. "^1.0.0"');
    return false;
  }
  if (!semver.valid(m.version)) {
    bad(`version ${JSON.stringify(m.version)} is not semver`, 'set "version" in its package.json');
    return false;
  }
  if (!Array.isArray(raw.kinds)) {
    bad('manifest "kinds" must be an array', `list what it provides, from: ${PLUGIN_KINDS.join(', ')}`);
    return false;
  }
  for (const kind of m.kinds) {
    if (!PLUGIN_KINDS.includes(kind)) {
      problems.push(
        new OpspawnError(ErrorCodes.PLUGIN_UNKNOWN_KIND, `plugin '${m.id}' declares unknown kind '${String(kind)}'`, {
          hint: `kinds are: ${PLUGIN_KINDS.join(', ')}`,
          plugin: m.id,
        }),
      );
      return false;
    }
  }
  for (const [dep, range] of Object.entries(m.requires ?? {})) {
    if (typeof range !== 'string' || !semver.validRange(range)) {
      bad(`requires '${dep}' with ${JSON.stringify(range)}, which is not a semver range`, 'use a range like "^1.0.0"');
      return false;
    }
  }
  if (m.configSchema !== undefined && (typeof m.configSchema !== 'object' || m.configSchema === null)) {
    bad('manifest "configSchema" must be a JSON Schema object', 'fix "opspawn.configSchema"');
    return false;
  }
  return true;
}

function checkEntryFile(s: PluginSource, problems: OpspawnError[]): boolean {
  if (s.inline || existsSync(s.entryFile!)) return true;
  problems.push(
    new OpspawnError(
      ErrorCodes.PLUGIN_LOAD_FAILED,
      `plugin '${s.manifest.id}': its entry file ${s.entryFile} does not exist`,
      {
        hint: `build the plugin (npm run build in ${s.manifest.dir})`,
        plugin: s.manifest.id,
        phase: 'load',
      },
    ),
  );
  return false;
}

function chooseProviders(
  loaded: LoadedConfig,
  sources: PluginSource[],
  disabled: PluginSource[],
  problems: OpspawnError[],
): Pick<StaticPlan, 'chosen' | 'inactive'> {
  const chosen: StaticPlan['chosen'] = {};
  const config = loaded.config as Record<string, unknown>;
  for (const kind of [...SINGLE_KINDS, ...DEFAULT_KINDS]) {
    const providers = sources.filter((s) => s.manifest.kinds.includes(kind)).map((s) => s.manifest.id);
    const choice = config[kind] as string | undefined;
    if (choice !== undefined) {
      if (!providers.includes(choice)) {
        problems.push(
          new OpspawnError(
            ErrorCodes.KIND_CHOICE_INVALID,
            `config chooses ${kind} '${choice}', but no enabled plugin '${choice}' provides kind '${kind}'${providers.length ? ` (enabled: ${providers.join(', ')})` : ''}`,
            { hint: choiceFix(kind, choice, providers, disabled), plugin: choice },
          ),
        );
      } else {
        chosen[kind] = choice;
      }
    } else if (providers.length === 1) {
      chosen[kind] = providers[0];
    } else if (providers.length > 1) {
      const what = (SINGLE_KINDS as readonly string[]).includes(kind)
        ? 'only one can be active'
        : 'one must be the default';
      problems.push(
        new OpspawnError(
          ErrorCodes.KIND_AMBIGUOUS,
          `plugins ${providers.map((p) => `'${p}'`).join(' and ')} all provide kind '${kind}' and ${what}`,
          {
            hint: `choose one: opspawn plugins use ${providers[0]} --as ${kind}`,
            plugin: providers[0],
          },
        ),
      );
    }
  }
  const inactive = new Set<string>();
  for (const s of sources) {
    const kinds = s.manifest.kinds;
    const unchosenSingle = (k: PluginKind) =>
      (SINGLE_KINDS as readonly string[]).includes(k) && chosen[k] !== undefined && chosen[k] !== s.manifest.id;
    if (kinds.length > 0 && kinds.every(unchosenSingle)) inactive.add(s.manifest.id);
  }
  return { chosen, inactive };
}

/** How to mend a choice no enabled provider answers: choose one that is, enable the one chosen, or add one. */
function choiceFix(kind: PluginKind, choice: string, providers: string[], disabled: PluginSource[]): string {
  if (providers.length) return `opspawn plugins use ${providers[0]} --as ${kind}`;
  if (disabled.some((s) => s.manifest.id === choice && s.manifest.kinds.includes(kind)))
    return `opspawn plugins enable ${choice}`;
  return `opspawn plugins add ${EMBEDDED_PROVIDERS[kind as keyof typeof EMBEDDED_PROVIDERS] ?? `<a ${kind} plugin>`}, or opspawn config unset ${kind}`;
}

/**
 * One problem naming every required kind no enabled plugin provides, and the commands that add (or enable) one
 * of each: the one line a deployment without a store or a broker gets instead of failing later.
 */
function missingKinds(
  required: readonly PluginKind[],
  sources: PluginSource[],
  disabled: PluginSource[],
): OpspawnError | undefined {
  const provides = (list: PluginSource[], kind: PluginKind) => list.find((s) => s.manifest.kinds.includes(kind));
  const missing = required.filter((kind) => !provides(sources, kind));
  if (missing.length === 0) return undefined;
  const fixes = missing.map((kind) => {
    const off = provides(disabled, kind);
    if (off) return `opspawn plugins enable ${off.manifest.id}`;
    return `opspawn plugins add ${EMBEDDED_PROVIDERS[kind as keyof typeof EMBEDDED_PROVIDERS] ?? `<a ${kind} plugin>`}`;
  });
  const named = missing.map((kind) => (provides(disabled, kind) ? `no enabled ${kind}` : `no ${kind}`));
  return new OpspawnError(
    ErrorCodes.KIND_MISSING,
    `this deployment has ${named.join(' and ')}, so it cannot run tasks`,
    { hint: fixes.join(' && '), details: { kinds: missing } },
  );
}

function validateOptions(sources: PluginSource[], problems: OpspawnError[]): Map<string, Record<string, unknown>> {
  const ajv = createAjv();
  const out = new Map<string, Record<string, unknown>>();
  for (const s of sources) {
    const { id, configSchema } = s.manifest;
    const options = structuredCloneOptions(s.entry.options ?? {});
    if (configSchema) {
      let validate: ReturnType<typeof ajv.compile>;
      try {
        validate = ajv.compile(configSchema);
      } catch (error) {
        problems.push(
          new OpspawnError(
            ErrorCodes.PLUGIN_MANIFEST_INVALID,
            `plugin '${id}': its configSchema does not compile: ${(error as Error).message}`,
            {
              hint: 'fix "opspawn.configSchema" in its package.json',
              plugin: id,
            },
          ),
        );
        continue;
      }
      if (!validate(options)) {
        for (const error of validate.errors ?? []) {
          const prefix = `plugins[${s.index}] (${id}) options`;
          const { path, message } = describeAjvError(error, prefix);
          const option = path.slice(prefix.length + 1);
          const missing = error.keyword === 'required';
          problems.push(
            new OpspawnError(ErrorCodes.PLUGIN_OPTIONS_INVALID, `${path}: ${message}`, {
              hint: missing
                ? `set it: opspawn config set plugins.${id}.options.${option} <value> (see the options table in ${id}'s README)`
                : error.keyword === 'additionalProperties'
                  ? `opspawn config unset plugins.${id}.options.${option}, or see the options table in ${id}'s README`
                  : `see the options table in ${id}'s README`,
              plugin: id,
              details: { path, option, missing },
            }),
          );
        }
        continue;
      }
    }
    out.set(id, options);
  }
  return out;
}

function structuredCloneOptions(options: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(options);
  } catch {
    return { ...options };
  }
}
