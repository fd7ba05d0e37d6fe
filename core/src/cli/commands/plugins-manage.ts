import { existsSync, statSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import semver from 'semver';
import { ErrorCodes, KERNEL_API_VERSION, OpspawnError, OpspawnProblems } from '@opspawn/plugin-sdk';
import { ConfigEditor } from '../../config/config-editor.js';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { readPluginSource } from '../../kernel/plugin-source.js';
import { checkPlugins, type StaticPlan } from '../../kernel/static-checks.js';
import { printJson } from '../output.js';
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
  return { loaded: loaded as Deployment['loaded'], plan: checkPlugins(loaded), editor, say };
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

/** Problems the edit would bring that the config does not already have (indices in messages may shift). */
async function checkCandidate(d: Deployment): Promise<string> {
  const key = (p: OpspawnError) => `${p.code}|${p.plugin}|${p.message.replace(/plugins\[\d+\]/g, 'plugins[]')}`;
  const known = new Set(d.plan.problems.map(key));
  const candidate = d.editor.writeCandidate();
  try {
    const plan = checkPlugins(await loadConfig({ path: candidate }));
    const fresh = plan.problems.filter((p) => !known.has(key(p)));
    if (fresh.length > 0) throw new OpspawnProblems(fresh);
    return candidate;
  } catch (error) {
    d.editor.discard(candidate);
    throw error;
  }
}

/** Writes a checked edit (backup kept), or with --dry-run prints its diff and writes nothing. `done` ends with to/from/in. */
function finish(
  d: Deployment,
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
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // not JSON: a plain string
    }
    options[pair.slice(0, eq)] = value;
  }
  return options;
}

const collect = (value: string, previous: string[]) => [...previous, value];

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
    .option('--dry-run', 'install and check, print the config diff, then put everything back')
    .option('--json', 'machine-readable output')
    .action(async function (this: Command, spec: string, opts: ChangeOptions & { option: string[]; options?: string }) {
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
        const candidate = await checkCandidate(d);
        finish(d, candidate, opts, `added plugin '${manifest.id}' ${manifest.version} (${manifest.packageName}) to`, {
          action: 'add',
          plugin: manifest.id,
          version: manifest.version,
          packageName: manifest.packageName,
          use,
        });
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
      const candidate = await checkCandidate(d);
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
        const candidate = await checkCandidate(d);
        finish(d, candidate, opts, `${verb}d plugin '${found.id}' in`, { action: verb, plugin: found.id });
      });
  }

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
      const plan = checkPlugins(await loadConfig({ path: d.loaded.path }));
      const known = new Set(d.plan.problems.map((p) => p.toString()));
      const fresh = plan.problems.filter((p) => !known.has(p.toString()));
      if (fresh.length > 0) {
        await packages.restore(snapshot);
        throw new OpspawnProblems(fresh);
      }
      report(rows(Object.fromEntries(names.map((n) => [n, packages.installedVersion(n)]))));
    });
}
