import type { Command } from 'commander';
import { ErrorCodes, KERNEL_API_VERSION, OpspawnError, SINGLE_KINDS } from '@opspawn/plugin-sdk';
import { loadConfig } from '../../config/load-config.js';
import { checkPlugins, type StaticPlan } from '../../kernel/static-checks.js';
import { ExitCodes } from '../exit-codes.js';
import { checkedConfig, printJson, table } from '../output.js';
import type { GlobalOptions } from '../global-options.js';
import { registerPluginManagementCommands } from './plugins-manage.js';
import { registerPluginScaffoldCommand } from './plugins-new.js';

type StaticStatus = 'enabled' | 'disabled' | 'inactive' | 'invalid';

interface ListedPlugin {
  id: string;
  version: string;
  kinds: string[];
  status: StaticStatus;
  source: string;
  packageName: string;
  chosenFor: string[];
}

/** What `plugins list` shows: every entry of the config, with what the static checks say of it. */
function listPlugins(plan: StaticPlan): ListedPlugin[] {
  const culprits = new Set(plan.problems.map((p) => p.plugin).filter(Boolean));
  const chosenFor = (id: string) =>
    Object.entries(plan.chosen)
      .filter(([, v]) => v === id)
      .map(([k]) => k);
  const row = (s: StaticPlan['sources'][number], status: StaticStatus): ListedPlugin => ({
    id: s.manifest.id,
    version: s.manifest.version,
    kinds: s.manifest.kinds,
    source: s.manifest.source,
    packageName: s.manifest.packageName,
    chosenFor: chosenFor(s.manifest.id),
    status: culprits.has(s.manifest.id) ? 'invalid' : status,
  });
  return [
    ...plan.sources.map((s) => row(s, plan.inactive.has(s.manifest.id) ? 'inactive' : 'enabled')),
    ...plan.disabled.map((s) => row(s, 'disabled')),
  ];
}

export function registerPluginCommands(program: Command, globals: () => GlobalOptions): void {
  const plugins = program
    .command('plugins')
    .description(
      'list, inspect, verify, add, remove, enable, disable and update the plugins of this deployment; write new ones',
    );

  plugins
    .command('list')
    .description('list the plugins the config declares: id, version, kinds, status, source')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const loaded = await loadConfig({ path: globals().config });
      const plan = checkPlugins(loaded);
      const listed = listPlugins(plan);
      if (opts.json) {
        printJson({ config: loaded.path, plugins: listed, problems: plan.problems.map((p) => p.toJSON()) });
      } else {
        process.stdout.write(
          `${table(
            ['ID', 'VERSION', 'KINDS', 'STATUS', 'SOURCE'],
            listed.map((p) => [
              p.id,
              p.version,
              p.kinds.join(',') + (p.chosenFor.length ? ` (${p.chosenFor.map(roleOf).join(', ')})` : ''),
              p.status,
              p.source,
            ]),
          )}\n`,
        );
        for (const p of plan.problems) process.stderr.write(`error ${p.toString()}\n`);
      }
      process.exitCode = plan.problems.length > 0 ? ExitCodes.plugins : ExitCodes.ok;
    });

  plugins
    .command('inspect <id>')
    .description("show one plugin's manifest, compatibility, options with defaults, and config schema")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const loaded = await loadConfig({ path: globals().config });
      const plan = checkPlugins(loaded);
      const source = [...plan.sources, ...plan.disabled].find((s) => s.manifest.id === id);
      if (!source) {
        const known = [...plan.sources, ...plan.disabled].map((s) => s.manifest.id);
        throw new OpspawnError(ErrorCodes.PLUGIN_NOT_FOUND, `no plugin '${id}' in ${loaded.path}`, {
          hint: known.length ? `known plugins: ${known.join(', ')}` : 'the config declares no plugins',
          plugin: id,
        });
      }
      const m = source.manifest;
      const problems = plan.problems.filter((p) => p.plugin === id);
      const listed = listPlugins(plan).find((p) => p.id === id)!;
      const options = redact(plan.options.get(id) ?? source.entry.options ?? {});
      const info = {
        id: m.id,
        version: m.version,
        packageName: m.packageName,
        description: m.description,
        source: m.source,
        dir: m.dir,
        kinds: m.kinds,
        kernel: m.kernel,
        requires: m.requires ?? {},
        status: listed.status,
        chosenFor: listed.chosenFor,
        onBootFailure: source.entry.onBootFailure ?? 'abort',
        startTimeoutMs: source.entry.startTimeoutMs,
        options,
        configSchema: m.configSchema,
        problems: problems.map((p) => p.toJSON()),
      };
      if (opts.json) {
        printJson(info);
      } else {
        const lines = [
          `${m.id} ${m.version}  (${m.packageName})`,
          m.description ? `  ${m.description}` : undefined,
          `  source:      ${m.source}`,
          `  directory:   ${m.dir}`,
          `  kinds:       ${m.kinds.join(', ') || '(none)'}${listed.chosenFor.length ? `  — ${listed.chosenFor.map(roleOf).join(', ')}` : ''}`,
          `  kernel:      ${m.kernel}`,
          `  requires:    ${
            Object.entries(m.requires ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || '(nothing)'
          }`,
          `  status:      ${listed.status}`,
          `  on failure:  ${info.onBootFailure}`,
          `  options:     ${JSON.stringify(options)}`,
          ...optionRows(m.configSchema),
        ].filter((l): l is string => l !== undefined);
        process.stdout.write(`${lines.join('\n')}\n`);
        for (const p of problems) process.stderr.write(`error ${p.toString()}\n`);
      }
      process.exitCode = problems.length > 0 ? ExitCodes.plugins : ExitCodes.ok;
    });

  plugins
    .command('verify')
    .description(
      'run every static check on every plugin (manifests, versions, graph, options) without starting anything',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const checked = await checkedConfig(globals().config, Boolean(opts.json));
      if (!checked) return;
      const { loaded, plan } = checked;
      if (opts.json) printJson({ ok: true, config: loaded.path, plugins: listPlugins(plan) });
      else
        process.stdout.write(
          `ok: ${plan.sources.length} plugin(s) verified against kernel API ${KERNEL_API_VERSION}${plan.disabled.length ? `, ${plan.disabled.length} disabled` : ''}\n`,
        );
    });

  registerPluginManagementCommands(plugins, globals);
  registerPluginScaffoldCommand(plugins);
}

/** `active store` for kinds with one provider, `default planner` for kinds with many. */
function roleOf(kind: string): string {
  return (SINGLE_KINDS as readonly string[]).includes(kind) ? `active ${kind}` : `default ${kind}`;
}

const SECRET = /key|token|secret|password|authorization/i;

/** Options with secret-looking values masked, for display. */
function redact(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return SECRET.test(key) && value.length > 0 ? '***' : value;
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  return value;
}

function optionRows(schema: Record<string, unknown> | undefined): string[] {
  const props = (schema?.properties ?? {}) as Record<
    string,
    { type?: unknown; default?: unknown; description?: string }
  >;
  const rows = Object.entries(props).map(([name, p]) => [
    name,
    String(p.type ?? ''),
    p.default === undefined ? '' : JSON.stringify(p.default),
    p.description ?? '',
  ]);
  if (rows.length === 0) return [];
  return [
    '  config schema:',
    ...table(['OPTION', 'TYPE', 'DEFAULT', 'MEANING'], rows)
      .split('\n')
      .map((l) => `    ${l}`),
  ];
}
