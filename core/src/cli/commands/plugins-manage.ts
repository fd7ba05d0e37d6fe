import { existsSync, statSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import semver from 'semver';
import {
  DEFAULT_KINDS,
  ErrorCodes,
  KERNEL_API_VERSION,
  OpspawnError,
  OpspawnProblems,
  SINGLE_KINDS,
  isOpspawnProblems,
  type PluginManifest,
} from '@opspawn/plugin-sdk';
import { ConfigEditor } from '../../config/config-editor.js';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { readPluginSource } from '../../kernel/plugin-source.js';
import { EMBEDDED_PROVIDERS, checkPlugins, type StaticPlan } from '../../kernel/static-checks.js';
import { parseCommandLineValue } from '../command-line-value.js';
import { printJson, problemsOf } from '../output.js';
import { TASK_KINDS } from '../../tasks/kernel-services.js';
import type { GlobalOptions } from '../global-options.js';
import { DeploymentPackages, type PackagesSnapshot } from './plugins-packages.js';

interface ChangeOptions {
  dryRun?: boolean;
  json?: boolean;
}

/** The config as it is now: loaded, checked, and open for editing. */
interface Deployment {
  loaded: LoadedConfig & { path: string };
  plan: StaticPlan;
  editor: ConfigEditor;
  say: (line: string) => void;
}

/** An entry of the config found by plugin id or by the package or path it names. */
interface FoundEntry {
  index: number;
  id: string;
  packageName?: string;
  version?: string;
  enabled: boolean;
}

/** What every edit is checked with: what `config check` checks, a host's kinds included. */
const HOST_CHECKS = { requiredKinds: TASK_KINDS };

async function openDeployment(globals: GlobalOptions, opts: ChangeOptions): Promise<Deployment> {
  const loaded = await loadConfig({ path: globals.config });
  const editor = ConfigEditor.open(loaded.path!);
  if (editor.entries().length !== loaded.config.plugins.length) {
    throw new OpspawnError(
      ErrorCodes.CONFIG_NOT_EDITABLE,
      `${loaded.path}: the plugins array in the file does not match the plugins the config gives`,
      {
        hint: 'write plugins: [ ... ] as a literal list inside defineConfig, or edit the config by hand',
      },
    );
  }
  const say = (line: string) => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };
  return { loaded: loaded as Deployment['loaded'], plan: checkPlugins(loaded, HOST_CHECKS), editor, say };
}

function findEntry({ loaded, plan }: Deployment, wanted: string): FoundEntry {
  const sources = [...plan.sources, ...plan.disabled];
  const byId =
    sources.find((s) => s.manifest.id === wanted) ??
    sources.find((s) => s.manifest.packageName === wanted || s.manifest.source === wanted);
  const index = byId?.index ?? loaded.config.plugins.findIndex((e) => e.use === wanted);
  if (index === -1 || index === undefined) {
    const known = sources.map((s) => s.manifest.id);
    throw new OpspawnError(ErrorCodes.PLUGIN_NOT_FOUND, `no plugin '${wanted}' in ${loaded.path}`, {
      hint: known.length ? `known plugins: ${known.join(', ')}` : 'the config declares no plugins',
      plugin: wanted,
    });
  }
  const entry = loaded.config.plugins[index]!;
  return {
    index,
    id: byId?.manifest.id ?? wanted,
    packageName: byId?.manifest.packageName,
    version: byId?.manifest.version,
    enabled: entry.enabled !== false,
  };
}

/**
 * What a problem is about, to tell a new one from one the config already had: indices in messages may shift, and a
 * missing kind is one thing each (adding the store to a deployment without store and broker leaves the broker
 * missing, which is not new).
 */
function problemKeys(p: OpspawnError): string[] {
  if (p.code === ErrorCodes.KIND_MISSING)
    return ((p.details as { kinds?: string[] } | undefined)?.kinds ?? []).map((kind) => `${p.code}|${kind}`);
  return [`${p.code}|${p.plugin}|${p.message.replace(/plugins\[\d+\]/g, 'plugins[]')}`];
}

/** Problems the edit would bring that the config does not already have. */
export async function checkCandidate(d: Pick<Deployment, 'editor'>, knownProblems: OpspawnError[]): Promise<string> {
  const known = new Set(knownProblems.flatMap(problemKeys));
  const candidate = d.editor.writeCandidate();
  try {
    let problems: OpspawnError[];
    try {
      problems = checkPlugins(await loadConfig({ path: candidate }), HOST_CHECKS).problems;
    } catch (error) {
      problems = problemsOf(error);
      if (problems.length === 0) throw error;
    }
    const fresh = problems.filter((p) => problemKeys(p).some((k) => !known.has(k)));
    if (fresh.length > 0) throw new OpspawnProblems(fresh);
    return candidate;
  } catch (error) {
    d.editor.discard(candidate);
    throw error;
  }
}

/** Writes a checked edit (backup kept), or with --dry-run prints its diff and writes nothing. `done` ends with to/from/in. */
export function finish(
  d: Pick<Deployment, 'editor' | 'say'> & { loaded: { path: string } },
  candidate: string,
  opts: ChangeOptions,
  done: string,
  report: Record<string, unknown>,
): void {
  const config = d.loaded.path;
  if (opts.dryRun) {
    d.editor.discard(candidate);
    if (opts.json) printJson({ ok: true, dryRun: true, config, ...report, diff: d.editor.diff() });
    else {
      process.stdout.write(d.editor.diff());
      d.say(`dry run: ${basename(config)} is unchanged`);
    }
    return;
  }
  const backup = d.editor.commit(candidate);
  if (opts.json) printJson({ ok: true, dryRun: false, config, backup, ...report });
  else process.stdout.write(`${done} ${config} (the previous version is in ${basename(backup)})\n`);
}

function parseOptions(command: Command, pairs: string[], json: string | undefined): Record<string, unknown> {
  let options: Record<string, unknown> = {};
  if (json !== undefined) {
    try {
      options = JSON.parse(json) as Record<string, unknown>;
    } catch {
      command.error(`error: --options is not JSON: ${json}`);
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options))
      command.error('error: --options must be a JSON object');
  }
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) command.error(`error: --option wants key=value, got '${pair}'`);
    options[pair.slice(0, eq)] = parseCommandLineValue(pair.slice(eq + 1));
  }
  return options;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The kinds a config chooses a provider of: `store: '<id>'`, `memory: '<id>'`... */
export const CHOOSABLE_KINDS = [...SINGLE_KINDS, ...DEFAULT_KINDS] as const;
export type ChoosableKind = (typeof CHOOSABLE_KINDS)[number];

/** Where a new `memory: '<id>'` goes: with the other choices, else right after the plugins list. */
export const CHOICE_PLACE = ['memory', 'planner', 'broker', 'store', 'plugins'];

/** A required option the new plugin lacks is given on the same command line: its refusal says how. */
function withOptionHints(error: unknown, manifest: PluginManifest, spec: string): unknown {
  if (!isOpspawnProblems(error)) return error;
  const properties = (manifest.configSchema?.properties ?? {}) as Record<
    string,
    { type?: unknown; description?: string }
  >;
  return new OpspawnProblems(
    error.problems.map((p) => {
      const details = p.details as { option?: string; missing?: boolean } | undefined;
      if (p.plugin !== manifest.id || !details?.missing || !/^[\w$-]+$/.test(details.option ?? '')) return p;
      const schema = properties[details.option!];
      const what = [schema?.type, schema?.description].filter(Boolean).join(': ') || 'value';
      return new OpspawnError(p.code, p.message, {
        hint: `give it on the command line: opspawn plugins add ${spec} --option ${details.option!}=<${what}>`,
        plugin: p.plugin,
        details: p.details,
      });
    }),
  );
}

/**
 * A plugin joins the providers of its kinds (added or enabled): the provider each kind has now stays chosen, written
 * as `memory: '<current>'` when the config relied on it being the only one, so that adding a second memory is not
 * refused as ambiguous; with `as`, the newcomer is chosen for that kind instead. Returns what to tell the user.
 */
function keepChoices(d: Deployment, manifest: PluginManifest, as?: ChoosableKind): string[] {
  if (as && !manifest.kinds.includes(as)) {
    throw new OpspawnError(
      ErrorCodes.KIND_CHOICE_INVALID,
      `plugin '${manifest.id}' does not provide kind '${as}' (it provides: ${manifest.kinds.join(', ') || 'nothing'})`,
      { hint: `leave out --as, or add a plugin that provides kind '${as}'`, plugin: manifest.id },
    );
  }
  const notes: string[] = [];
  const written = d.loaded.config as Record<string, unknown>;
  for (const kind of CHOOSABLE_KINDS.filter((k) => manifest.kinds.includes(k))) {
    const current = d.plan.chosen[kind];
    if (as === kind) {
      d.editor.set([kind], manifest.id, CHOICE_PLACE);
      notes.push(`'${manifest.id}' is now the ${roleName(kind)}${current ? ` (was '${current}')` : ''}`);
    } else if (written[kind] === undefined && current && current !== manifest.id) {
      d.editor.set([kind], current, CHOICE_PLACE);
      notes.push(
        `'${current}' stays the ${roleName(kind)} (${kind}: '${current}' is now in the config); opspawn plugins use ${manifest.id} --as ${kind} makes '${manifest.id}' the ${roleName(kind)}`,
      );
    }
  }
  return notes;
}

/**
 * A chosen provider is disabled: when one other enabled provider of the kind is left it takes over (written in the
 * config), when none is left the choice is removed; with several left, the check refuses and names `plugins use`.
 */
function passChoices(d: Deployment, manifest: PluginManifest): string[] {
  const notes: string[] = [];
  const written = d.loaded.config as Record<string, unknown>;
  for (const kind of CHOOSABLE_KINDS.filter((k) => manifest.kinds.includes(k))) {
    if (written[kind] !== manifest.id) continue;
    const left = d.plan.sources.filter((s) => s.manifest.id !== manifest.id && s.manifest.kinds.includes(kind));
    if (left.length === 1) {
      d.editor.set([kind], left[0]!.manifest.id, CHOICE_PLACE);
      notes.push(`'${left[0]!.manifest.id}' is now the ${roleName(kind)} (was '${manifest.id}')`);
    } else if (left.length === 0) {
      d.editor.unset([kind]);
      notes.push(`the deployment has no ${roleName(kind)} now`);
    }
  }
  return notes;
}

/** `active store`, `default memory`. */
function roleName(kind: ChoosableKind): string {
  return (SINGLE_KINDS as readonly string[]).includes(kind) ? `active ${kind}` : `default ${kind}`;
}

function isLocalFolder(spec: string, from: string): boolean {
  if (!(spec.startsWith('.') || spec.startsWith('/'))) return false;
  const path = resolve(from, spec);
  return existsSync(path) && statSync(path).isDirectory();
}

export function registerPluginManagementCommands(plugins: Command, globals: () => GlobalOptions): void {
  plugins
    .command('add <spec>')
    .description(
      'install a plugin (npm spec, tarball or local folder), check it against this kernel and the other plugins, then add it to the config',
    )
    .option(
      '-o, --option <key=value>',
      'an option for the plugin; repeat for more (values that parse as JSON are JSON, others strings)',
      collect,
      [],
    )
    .option('--options <json>', 'all options as one JSON object')
    .addOption(
      new Option('--as <kind>', 'also make it the default memory or planner, or the active store or broker').choices([
        ...CHOOSABLE_KINDS,
      ]),
    )
    .option('--dry-run', 'install and check, print the config diff, then put everything back')
    .option('--json', 'machine-readable output')
    .action(async function (
      this: Command,
      spec: string,
      opts: ChangeOptions & { option: string[]; options?: string; as?: ChoosableKind },
    ) {
      const options = parseOptions(this, opts.option, opts.options);
      const d = await openDeployment(globals(), opts);
      const local = isLocalFolder(spec, process.cwd());
      const packages = new DeploymentPackages(d.loaded.dir, d.say);
      let installed: { name: string; snapshot: PackagesSnapshot } | undefined;
      let committed = false;
      try {
        let use: string;
        if (local) {
          // A folder is named by its path, as docs/how-to/load-a-local-plugin.md does; npm is not involved.
          const rel = relative(d.loaded.dir, resolve(process.cwd(), spec)) || '.';
          use = rel.startsWith('.') ? rel : `./${rel}`;
        } else {
          const snapshot = packages.snapshot();
          use = await packages.install(spec);
          installed = { name: use, snapshot };
        }
        const { manifest } = readPluginSource({ use }, d.loaded.config.plugins.length, d.loaded.dir);
        d.say(
          `checking plugin '${manifest.id}' ${manifest.version} against kernel API ${KERNEL_API_VERSION} and the ${d.loaded.config.plugins.length} other plugin(s)`,
        );
        d.editor.add(use, options);
        const notes = keepChoices(d, manifest, opts.as);
        const candidate = await checkCandidate(d, d.plan.problems).catch((error: unknown) => {
          throw withOptionHints(error, manifest, spec);
        });
        finish(d, candidate, opts, `added plugin '${manifest.id}' ${manifest.version} (${manifest.packageName}) to`, {
          action: 'add',
          plugin: manifest.id,
          version: manifest.version,
          packageName: manifest.packageName,
          use,
          notes,
        });
        for (const note of notes) d.say(note);
        committed = !opts.dryRun;
      } finally {
        if (installed && !committed) await packages.restore(installed.snapshot, installed.name);
      }
    });

  plugins
    .command('remove <id>')
    .description(
      'remove a plugin from the config (checked first: nothing else may require it); --purge also uninstalls its package',
    )
    .option('--purge', 'also npm uninstall its package')
    .option('--dry-run', 'print the config diff and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: ChangeOptions & { purge?: boolean }) => {
      const d = await openDeployment(globals(), opts);
      const found = findEntry(d, id);
      d.editor.remove(found.index);
      const candidate = await checkCandidate(d, d.plan.problems);
      const packages = new DeploymentPackages(d.loaded.dir, d.say);
      const purge = Boolean(opts.purge && found.packageName && found.packageName in packages.dependencies());
      finish(d, candidate, opts, `removed plugin '${found.id}' from`, {
        action: 'remove',
        plugin: found.id,
        packageName: found.packageName,
        purged: purge,
      });
      if (purge && !opts.dryRun) await packages.uninstall(found.packageName!);
      else if (purge) d.say(`dry run: would npm uninstall ${found.packageName}`);
      else if (found.packageName && found.packageName in packages.dependencies())
        d.say(`its package ${found.packageName} stays installed (--purge uninstalls it)`);
    });

  for (const enabled of [true, false]) {
    const verb = enabled ? 'enable' : 'disable';
    plugins
      .command(`${verb} <id>`)
      .description(
        enabled
          ? 'enable a disabled plugin (checked first: kinds, requirements)'
          : 'disable a plugin, keeping its entry and options (checked first: nothing enabled may require it)',
      )
      .option('--dry-run', 'print the config diff and change nothing')
      .option('--json', 'machine-readable output')
      .action(async (id: string, opts: ChangeOptions) => {
        const d = await openDeployment(globals(), opts);
        const found = findEntry(d, id);
        if (found.enabled === enabled) {
          if (opts.json)
            printJson({
              ok: true,
              dryRun: Boolean(opts.dryRun),
              config: d.loaded.path,
              action: verb,
              plugin: found.id,
              unchanged: true,
            });
          else process.stdout.write(`plugin '${found.id}' is already ${verb}d; nothing to change\n`);
          return;
        }
        d.editor.setEnabled(found.index, enabled);
        const source = [...d.plan.sources, ...d.plan.disabled].find((s) => s.manifest.id === found.id);
        const notes = source ? (enabled ? keepChoices(d, source.manifest) : passChoices(d, source.manifest)) : [];
        const candidate = await checkCandidate(d, d.plan.problems);
        finish(d, candidate, opts, `${verb}d plugin '${found.id}' in`, { action: verb, plugin: found.id, notes });
        for (const note of notes) d.say(note);
      });
  }

  plugins
    .command('use <id>')
    .description(
      "make an enabled plugin the deployment's default memory or planner, or its active store or broker (sets memory: '<id>', ... in the config)",
    )
    .addOption(
      new Option('--as <kind>', 'the kind it is chosen for').choices([...CHOOSABLE_KINDS]).makeOptionMandatory(),
    )
    .option('--dry-run', 'print the config diff and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: ChangeOptions & { as: ChoosableKind }) => {
      const d = await openDeployment(globals(), opts);
      const kind = opts.as;
      const found = findEntry(d, id);
      const source = [...d.plan.sources, ...d.plan.disabled].find((s) => s.manifest.id === found.id);
      const providers = d.plan.sources.filter((s) => s.manifest.kinds.includes(kind)).map((s) => s.manifest.id);
      const others = providers.length
        ? `opspawn plugins use ${providers[0]} --as ${kind} (enabled ${kind}s: ${providers.join(', ')})`
        : `opspawn plugins add ${EMBEDDED_PROVIDERS[kind]}`;
      if (source && !source.manifest.kinds.includes(kind)) {
        throw new OpspawnError(
          ErrorCodes.KIND_CHOICE_INVALID,
          `plugin '${found.id}' does not provide kind '${kind}' (it provides: ${source.manifest.kinds.join(', ') || 'nothing'})`,
          { hint: others, plugin: found.id },
        );
      }
      if (!found.enabled) {
        throw new OpspawnError(
          ErrorCodes.KIND_CHOICE_INVALID,
          `plugin '${found.id}' is disabled, so it cannot be the ${roleName(kind)}`,
          { hint: `opspawn plugins enable ${found.id} first`, plugin: found.id },
        );
      }
      const chosenInFile = (d.loaded.config as Record<string, unknown>)[kind];
      if (chosenInFile === found.id) {
        if (opts.json)
          printJson({
            ok: true,
            dryRun: Boolean(opts.dryRun),
            config: d.loaded.path,
            action: 'use',
            plugin: found.id,
            kind,
            unchanged: true,
          });
        else process.stdout.write(`plugin '${found.id}' is already the ${roleName(kind)}; nothing to change\n`);
        return;
      }
      d.editor.set([kind], found.id, CHOICE_PLACE);
      const candidate = await checkCandidate(d, d.plan.problems);
      const before = d.plan.chosen[kind];
      finish(
        d,
        candidate,
        opts,
        `made plugin '${found.id}' the ${roleName(kind)}${before && before !== found.id ? ` (was '${before}')` : ''} in`,
        {
          action: 'use',
          plugin: found.id,
          kind,
          previous: before ?? null,
        },
      );
    });

  plugins
    .command('update [id]')
    .description(
      'update plugins installed from the npm registry to the newest versions their package.json ranges allow; checked, and put back if refused',
    )
    .option('--dry-run', 'print what would be updated and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, opts: ChangeOptions) => {
      const d = await openDeployment(globals(), opts);
      const packages = new DeploymentPackages(d.loaded.dir, d.say);
      const deps = packages.dependencies();
      const chosen = id
        ? [findEntry(d, id)]
        : [...d.plan.sources, ...d.plan.disabled].map((s) => findEntry(d, s.manifest.id));
      const updatable = chosen.filter((e) => e.packageName && semver.validRange(deps[e.packageName] ?? ''));
      for (const e of chosen.filter((c) => !updatable.includes(c))) {
        const spec = e.packageName ? deps[e.packageName] : undefined;
        d.say(
          `plugin '${e.id}': ${spec ? `installed from ${spec}` : 'not an npm dependency of this deployment'}, nothing to update`,
        );
      }
      const names = updatable.map((e) => e.packageName!);
      const before = Object.fromEntries(names.map((n) => [n, packages.installedVersion(n)]));
      const rows = (after: Record<string, string | undefined>) =>
        updatable.map((e) => ({
          plugin: e.id,
          packageName: e.packageName!,
          range: deps[e.packageName!]!,
          from: before[e.packageName!],
          to: after[e.packageName!] ?? before[e.packageName!],
        }));
      const report = (list: ReturnType<typeof rows>) => {
        if (opts.json)
          return printJson({
            ok: true,
            dryRun: Boolean(opts.dryRun),
            config: d.loaded.path,
            action: 'update',
            updates: list,
          });
        for (const r of list) {
          process.stdout.write(
            r.from === r.to
              ? `plugin '${r.plugin}' ${r.from} is the newest within ${r.range}\n`
              : `plugin '${r.plugin}' ${r.from} -> ${r.to} (${r.packageName} ${r.range})${opts.dryRun ? ' (dry run: not installed)' : ''}\n`,
          );
        }
      };
      if (names.length === 0) return report([]);
      if (opts.dryRun) return report(rows(await packages.wanted(names)));
      const snapshot = packages.snapshot();
      await packages.update(names);
      const plan = checkPlugins(await loadConfig({ path: d.loaded.path }), HOST_CHECKS);
      const known = new Set(d.plan.problems.map((p) => p.toString()));
      const fresh = plan.problems.filter((p) => !known.has(p.toString()));
      if (fresh.length > 0) {
        await packages.restore(snapshot);
        throw new OpspawnProblems(fresh);
      }
      report(rows(Object.fromEntries(names.map((n) => [n, packages.installedVersion(n)]))));
    });
}
