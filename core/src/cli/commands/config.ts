import type { Command } from 'commander';
import { checkedConfig, printJson } from '../output.js';
import type { GlobalOptions } from '../global-options.js';

export function registerConfigCommands(program: Command, globals: () => GlobalOptions): void {
  const config = program.command('config').description('check the deployment config');
  config
    .command('check')
    .description(
      'load the config, substitute ${ENV}, and check it and every plugin statically; reports all problems at once',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const checked = await checkedConfig(globals().config, Boolean(opts.json));
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
