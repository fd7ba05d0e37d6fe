import type { Command } from 'commander';
import { OpspawnProblems, describeError, services, type AgentInfo } from '@opspawn/plugin-sdk';
import { ConfigAgentRegistry, type ResolvedAgent } from '../../agents/agent-registry.js';
import { agentToolName } from '../../agents/tool-scope.js';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { Kernel } from '../../kernel/kernel.js';
import { checkPlugins, type StaticPlan } from '../../kernel/static-checks.js';
import { createLogger } from '../../logging/create-logger.js';
import { toolRegistryService } from '../../tasks/kernel-services.js';
import { ExitCodes } from '../exit-codes.js';
import type { GlobalOptions } from '../global-options.js';
import { printJson, reportFailure, table } from '../output.js';

/** Option names whose values are not printed (they usually come from `${ENV}` and hold credentials). */
const SECRET_OPTION = /key|token|secret|password|authorization/i;

function registryOf(loaded: LoadedConfig, plan: StaticPlan): ConfigAgentRegistry {
  return new ConfigAgentRegistry(
    loaded.config.agents,
    { planner: plan.chosen.planner, memory: plan.chosen.memory },
    loaded.config.defaultAgent,
  );
}

/**
 * The names of the deployment's tools: starts only its tool-provider plugins, in this process, as `run` would,
 * lists their tools and stops them. What a glob matches is only known this way.
 */
async function deploymentTools(loaded: LoadedConfig, plan: StaticPlan): Promise<string[]> {
  const providers = plan.sources.filter((s) => s.manifest.kinds.includes('tool-provider'));
  const { agents: _a, defaultAgent: _d, planner: _p, memory: _m, store: _s, broker: _b, ...rest } = loaded.config;
  const kernel = await Kernel.boot(
    { ...loaded, config: { ...rest, plugins: providers.map((s) => s.entry) } },
    {
      logger: createLogger({ level: 'error', destination: process.stderr }),
      kernelServices: [toolRegistryService],
      role: 'worker',
    },
  );
  try {
    const agentTools = Object.keys(loaded.config.agents ?? {}).map(agentToolName);
    return [...(await kernel.get(services.toolRegistry).list()).map((t) => t.name), ...agentTools];
  } finally {
    await kernel.stop();
  }
}

function redacted(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, SECRET_OPTION.test(k) ? '(redacted)' : v]));
}

export function registerAgentCommands(program: Command, globals: () => GlobalOptions): void {
  const agents = program
    .command('agents')
    .description("list and inspect the config's agents (planner, memory, tool scope, limits)");

  agents
    .command('list')
    .description('list the agents the config declares: id, planner, memory, tools, description')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const loaded = await loadConfig({ path: globals().config });
      const plan = checkPlugins(loaded);
      const listed = registryOf(loaded, plan).list();
      if (opts.json) {
        printJson({
          config: loaded.path,
          defaultAgent: loaded.config.defaultAgent ?? null,
          agents: listed,
          problems: plan.problems.map((p) => p.toJSON()),
        });
      } else {
        const isDefault = (a: AgentInfo) => (a.id === loaded.config.defaultAgent ? ' (default)' : '');
        process.stdout.write(
          listed.length === 0
            ? 'no agents in the config: tasks run unscoped, with every tool (docs/how-to/define-agents.md)\n'
            : `${table(
                ['ID', 'PLANNER', 'MEMORY', 'TOOLS', 'DESCRIPTION'],
                listed.map((a) => [
                  a.id + isDefault(a),
                  a.planner,
                  a.memory,
                  a.tools.join(',') || '(none)',
                  a.description ?? '',
                ]),
              )}\n`,
        );
        for (const p of plan.problems) process.stderr.write(`error ${p.toString()}\n`);
      }
      process.exitCode = plan.problems.length > 0 ? ExitCodes.plugins : ExitCodes.ok;
    });

  agents
    .command('inspect <id>')
    .description(
      "show one agent: its planner and options, instructions, limits, labels, and which of the deployment's tools each tool pattern matches (starts the tool providers to know)",
    )
    .option('--json', 'machine-readable output')
    .option('--no-tools', 'do not start the tool providers; show the patterns only')
    .action(async (id: string, opts: { json?: boolean; tools: boolean }) => {
      const loaded = await loadConfig({ path: globals().config });
      const plan = checkPlugins(loaded);
      let agent: ResolvedAgent;
      try {
        agent = registryOf(loaded, plan).resolve(id);
      } catch (error) {
        process.exitCode = reportFailure(error, Boolean(opts.json));
        return;
      }
      if (plan.problems.length > 0) {
        process.exitCode = reportFailure(new OpspawnProblems(plan.problems), Boolean(opts.json));
        return;
      }
      let tools: string[] | undefined;
      let toolsError: string | undefined;
      if (opts.tools) {
        try {
          tools = await deploymentTools(loaded, plan);
        } catch (error) {
          toolsError = describeError(error);
        }
      }
      const patterns = agent.tools.map((pattern, index) => ({
        path: `agents.${agent.id}.tools[${index}]`,
        pattern,
        ...(tools ? { matches: agent.scope.matching(index, tools) } : {}),
      }));
      const { scope: _scope, options, ...shown } = agent;
      const report = {
        ...shown,
        options: redacted(options),
        default: agent.id === loaded.config.defaultAgent,
        patterns,
        ...(toolsError ? { toolsError } : {}),
      };
      if (opts.json) {
        printJson(report);
        return;
      }
      const lines = [
        `agent ${agent.id}${report.default ? ' (default)' : ''}${agent.description ? `: ${agent.description}` : ''}`,
        `  planner   ${agent.planner}${Object.keys(options).length ? ` ${JSON.stringify(report.options)}` : ''}`,
        `  memory    ${agent.memory}`,
        `  limits    ${JSON.stringify(agent.limits)}`,
        `  labels    ${JSON.stringify(agent.labels)}`,
        ...(agent.instructions !== undefined
          ? [`  instructions\n    ${agent.instructions.split('\n').join('\n    ')}`]
          : []),
        `  tools${patterns.length ? '' : '     (none: the agent can call no tool)'}`,
        ...patterns.map((p) =>
          p.matches === undefined
            ? `    ${p.pattern}`
            : `    ${p.pattern} → ${p.matches.length ? p.matches.join(', ') : `matches no tool (${p.path})`}`,
        ),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      if (toolsError) process.stderr.write(`warning: could not start the tool providers: ${toolsError}\n`);
      for (const p of patterns)
        if (p.matches?.length === 0)
          process.stderr.write(`warning ${p.path}: '${p.pattern}' matches no tool of this deployment\n`);
    });
}
