import { basename } from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';
import { ConfigEditor, formatPath, parseConfigPath, type ConfigPath } from '../../config/config-editor.js';
import { findConfigFile, loadConfig, readConfigFile } from '../../config/load-config.js';
import { checkPlugins, type StaticPlan } from '../../kernel/static-checks.js';
import { TASK_KINDS } from '../../tasks/kernel-services.js';
import { parseCommandLineValue } from '../command-line-value.js';
import { checkedConfig, printJson, problemsOf } from '../output.js';
import type { GlobalOptions } from '../global-options.js';
import { CHOICE_PLACE, CHOOSABLE_KINDS, checkCandidate, finish } from './plugins-manage.js';

/** The config file and what `config check` says of it now; a config that does not load is still open to edits. */
async function current(globals: GlobalOptions): Promise<{ path: string; plan?: StaticPlan; problems: OpspawnError[] }> {
  const path = findConfigFile(globals.config, process.cwd(), process.env);
  try {
    const plan = checkPlugins(await loadConfig({ path }), { requiredKinds: TASK_KINDS });
    return { path, plan, problems: plan.problems };
  } catch (error) {
    const problems = problemsOf(error);
    if (problems.length === 0) throw error;
    return { path, problems };
  }
}

/** `plugins.<id>...` as `plugins[<index>]...`: a plugin is named by its id (or the package or path it is loaded from). */
function resolvePluginIndex(path: ConfigPath, plan: StaticPlan | undefined, file: string): ConfigPath {
  if (path[0] !== 'plugins' || typeof path[1] !== 'string') return path;
  const wanted = path[1];
  if (!plan) {
    throw new OpspawnError(
      ErrorCodes.CONFIG_PATH_INVALID,
      `cannot tell which entry is plugin '${wanted}' while ${file} does not load`,
      {
        hint: 'name the entry by its place, plugins[<n>], or fix what opspawn config check reports first',
        details: { path: formatPath(path) },
      },
    );
  }
  const sources = [...plan.sources, ...plan.disabled];
  const found =
    sources.find((s) => s.manifest.id === wanted) ??
    sources.find((s) => s.manifest.packageName === wanted || s.manifest.source === wanted);
  if (!found) {
    throw new OpspawnError(ErrorCodes.CONFIG_PATH_INVALID, `${formatPath(path)}: no plugin '${wanted}' in ${file}`, {
      hint: `plugins are: ${sources.map((s) => s.manifest.id).join(', ') || 'none'} (opspawn plugins add <package> adds one)`,
      details: { path: formatPath(path) },
    });
  }
  return ['plugins', found.index, ...path.slice(2)];
}

/** The value at `path` as the config evaluates it (before ${ENV} substitution). */
function valueAt(config: unknown, path: ConfigPath): { set: boolean; value?: unknown } {
  let value: unknown = config;
  for (const [i, segment] of path.entries()) {
    if (i === 2 && path[0] === 'plugins' && typeof value === 'string') value = { use: value };
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return { set: false };
    value = (value as Record<string | number, unknown>)[segment];
  }
  return { set: value !== undefined, value };
}

export function registerConfigCommands(program: Command, globals: () => GlobalOptions): void {
  const config = program
    .command('config')
    .description('check the deployment config, and read or change one of its values');

  config
    .command('get <path>')
    .description(
      'print the value at a path (log.level, plugins.store-sqlite.options.path, plugins[2].enabled) as the config file gives it, before ${ENV} substitution',
    )
    .option('--json', 'machine-readable output')
    .action(async (text: string, opts: { json?: boolean }) => {
      const { path: file, plan } = await current(globals());
      const path = resolvePluginIndex(parseConfigPath(text), plan, file);
      const { set, value } = valueAt(await readConfigFile(file), path);
      if (opts.json) printJson({ config: file, path: text, set, value: value ?? null });
      else if (set) process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
      else process.stderr.write(`${text} is not set in ${file}\n`);
    });

  config
    .command('set <path> <value>')
    .description(
      'set the value at a path in the config file, keeping its comments and layout; the value is JSON when it parses as JSON, else a string; the result is checked as config check checks, and refused if it brings a problem',
    )
    .option('--dry-run', 'print the config diff and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (text: string, raw: string, opts: { dryRun?: boolean; json?: boolean }) => {
      const now = await current(globals());
      const path = resolvePluginIndex(parseConfigPath(text), now.plan, now.path);
      const value = parseCommandLineValue(raw);
      const editor = ConfigEditor.open(now.path);
      editor.set(
        path,
        value,
        path.length === 1 && CHOOSABLE_KINDS.includes(path[0] as never) ? CHOICE_PLACE : undefined,
      );
      const say = (line: string) => !opts.json && process.stderr.write(`${line}\n`);
      if (!editor.changed) {
        if (opts.json)
          printJson({
            ok: true,
            dryRun: Boolean(opts.dryRun),
            config: now.path,
            action: 'set',
            path: text,
            value,
            unchanged: true,
          });
        else process.stdout.write(`${text} is already ${JSON.stringify(value)}; nothing to change\n`);
        return;
      }
      const candidate = await checkCandidate({ editor }, now.problems);
      finish(
        { editor, say, loaded: { path: now.path } },
        candidate,
        opts,
        `set ${text} to ${JSON.stringify(value)} in`,
        {
          action: 'set',
          path: text,
          value,
        },
      );
    });

  config
    .command('unset <path>')
    .description(
      'remove the value at a path from the config file (the default applies again); checked as config set is',
    )
    .option('--dry-run', 'print the config diff and change nothing')
    .option('--json', 'machine-readable output')
    .action(async (text: string, opts: { dryRun?: boolean; json?: boolean }) => {
      const written = parseConfigPath(text);
      if (written[0] === 'plugins' && written.length <= 2) {
        const id = typeof written[1] === 'string' ? written[1] : '<id>';
        throw new OpspawnError(ErrorCodes.CONFIG_PATH_INVALID, `${text}: config unset does not remove plugins`, {
          hint: `opspawn plugins remove ${id}, or opspawn plugins disable ${id}`,
          details: { path: text },
        });
      }
      const now = await current(globals());
      const path = resolvePluginIndex(written, now.plan, now.path);
      const editor = ConfigEditor.open(now.path);
      const say = (line: string) => !opts.json && process.stderr.write(`${line}\n`);
      if (!editor.unset(path)) {
        if (opts.json)
          printJson({
            ok: true,
            dryRun: Boolean(opts.dryRun),
            config: now.path,
            action: 'unset',
            path: text,
            unchanged: true,
          });
        else process.stdout.write(`${text} is not set in ${basename(now.path)}; nothing to change\n`);
        return;
      }
      const candidate = await checkCandidate({ editor }, now.problems);
      finish({ editor, say, loaded: { path: now.path } }, candidate, opts, `unset ${text} in`, {
        action: 'unset',
        path: text,
      });
    });

  config
    .command('check')
    .description(
      'load the config, substitute ${ENV}, and check it and every plugin statically; reports all problems at once',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const checked = await checkedConfig(globals().config, Boolean(opts.json), { requiredKinds: TASK_KINDS });
      if (!checked) return;
      const { loaded, plan } = checked;
      const summary = {
        ok: true,
        config: loaded.path,
        plugins: plan.sources.length,
        disabled: plan.disabled.length,
        chosen: plan.chosen,
        agents: Object.keys(loaded.config.agents ?? {}).sort(),
        defaultAgent: loaded.config.defaultAgent ?? null,
      };
      if (opts.json) printJson(summary);
      else {
        const chosen = Object.entries(plan.chosen)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ');
        const agents = summary.agents.length
          ? `\n  agents: ${summary.agents.map((a) => (a === summary.defaultAgent ? `${a} (default)` : a)).join(', ')}`
          : '';
        process.stdout.write(
          `ok: ${loaded.path}\n  ${plan.sources.length} plugin(s) enabled${plan.disabled.length ? `, ${plan.disabled.length} disabled` : ''}${chosen ? `\n  ${chosen}` : ''}${agents}\n`,
        );
      }
    });
}
