import { ErrorCodes, OpspawnError, extensionPoints, services, type PluginKind } from '@opspawn/plugin-sdk';
import { ConfigAgentRegistry } from '../agents/agent-registry.js';
import { agentToolName } from '../agents/tool-scope.js';
import { LocalEventBus } from '../kernel/event-bus.js';
import { KernelScheduleService } from '../schedules/schedule-service.js';
import { Scheduler } from '../schedules/scheduler.js';
import type { KernelService } from '../kernel/kernel-service.js';
import { KernelToolRegistry } from '../tools/kernel-tool-registry.js';
import { TaskEngine } from './task-engine.js';
import { taskSettings } from './task-defaults.js';
import { retentionService } from './task-retention.js';

/** `kernel:tools`: every tool provider merged. Always available (it may have no tools). */
export const toolRegistryService: KernelService<
  KernelToolRegistry,
  { providers: typeof extensionPoints.toolProvider }
> = {
  id: 'kernel:tools',
  token: services.toolRegistry as never,
  deps: { providers: extensionPoints.toolProvider },
  isAvailable: () => true,
  unavailableHint: '',
  create: ({ providers }, { config, logger }) => new KernelToolRegistry(providers, taskSettings(config.tasks), logger),
  dispose: (registry) => registry.close(),
};

/**
 * `kernel:agents`: the config's agents. It starts after the tool providers, so it can say which tool patterns match
 * no tool (a warning, not a failure: tools come and go, e.g. an MCP server still connecting).
 */
export const agentRegistryService: KernelService<ConfigAgentRegistry, { tools: typeof services.toolRegistry }> = {
  id: 'kernel:agents',
  token: services.agents as never,
  deps: { tools: services.toolRegistry },
  isAvailable: () => true,
  unavailableHint: '',
  async create({ tools }, { config, plan, logger }) {
    const registry = new ConfigAgentRegistry(
      config.agents,
      { planner: plan.chosen.planner, memory: plan.chosen.memory },
      config.defaultAgent,
    );
    if (!registry.declared) return registry;
    // Handoff patterns were checked against the agents by `config check`; they count as tools here.
    const names = [...(await tools.list()).map((t) => t.name), ...registry.list().map((a) => agentToolName(a.id))];
    for (const agent of registry.list()) {
      const { scope } = registry.resolve(agent.id);
      for (const index of scope.unmatched(names)) {
        const path = `agents.${agent.id}.tools[${index}]`;
        logger.warn(
          { agent: agent.id, path, pattern: agent.tools[index] },
          `${path}: '${agent.tools[index]}' matches no tool of this deployment (tools: ${names.join(', ') || 'none'})`,
        );
      }
    }
    return registry;
  },
};

/** What the task engine cannot run without: a host that runs tasks refuses to boot with one of them missing. */
export const TASK_KINDS = ['store', 'broker'] as const satisfies readonly PluginKind[];

const taskDeps = {
  store: extensionPoints.store,
  broker: extensionPoints.broker,
  planners: extensionPoints.planner,
  memories: extensionPoints.memory,
  tools: services.toolRegistry,
  agents: services.agents,
  bus: services.eventBus,
};

/** `kernel:tasks`: the task service, and this process's worker and recovery; needs the active store and broker. */
export const taskEngineService: KernelService<TaskEngine, typeof taskDeps> = {
  id: 'kernel:tasks',
  token: services.taskService as never,
  deps: taskDeps,
  isAvailable: (plan) => TASK_KINDS.every((kind) => plan.chosen[kind]),
  unavailableHint: 'opspawn plugins add @opspawn/store-sqlite && opspawn plugins add @opspawn/broker-memory',
  async create(deps, { config, plan, logger, role }) {
    if (deps.broker.events && deps.bus instanceof LocalEventBus) deps.bus.relayThrough(deps.broker.events);
    const engine = new TaskEngine({
      ...deps,
      agents: deps.agents as ConfigAgentRegistry,
      logger,
      settings: taskSettings(config.tasks),
      defaultPlanner: plan.chosen.planner,
      defaultMemory: plan.chosen.memory,
      stopTimeoutMs: config.kernel?.stopTimeoutMs ?? 10_000,
      consume: role !== 'api',
    });
    await engine.start();
    return engine;
  },
  dispose: (engine) => engine.stop(),
};

const scheduleDeps = { store: extensionPoints.store, tasks: services.taskService, agents: services.agents };

/**
 * `kernel:schedules`: the schedule API, the config's schedules upserted, and a scheduler. Every process that has the
 * task engine runs a scheduler, whatever its role (an API-only process submits fires for the workers): the store's
 * compare-and-set and the idempotency key of each due time make them agree, so more processes only add spares.
 */
export const scheduleService: KernelService<KernelScheduleService, typeof scheduleDeps> = {
  id: 'kernel:schedules',
  token: services.schedules as never,
  deps: scheduleDeps,
  isAvailable: (plan) => TASK_KINDS.every((kind) => plan.chosen[kind]),
  unavailableHint: taskEngineService.unavailableHint,
  async create({ store, tasks, agents }, { config, logger }) {
    const service = new KernelScheduleService(store.schedules, agents);
    const declared = config.schedules ?? {};
    if (!store.schedules) {
      if (Object.keys(declared).length > 0)
        throw new OpspawnError(
          ErrorCodes.SCHEDULES_UNSUPPORTED,
          `the config declares schedules (${Object.keys(declared).join(', ')}) but the store keeps none`,
        );
      return service;
    }
    const settings = taskSettings(config.tasks);
    if (!settings.runScheduler) return service;
    await service.applyConfig(declared);
    service.scheduler = new Scheduler(
      store.schedules,
      tasks,
      { pollMs: settings.schedulePollMs, lateAfterMs: settings.scheduleLateAfterMs },
      logger,
    );
    service.scheduler.start();
    return service;
  },
  dispose: (service) => service.scheduler?.stop(),
};

/** The services the kernel provides on top of plugins: the tool registry, the agents, the task engine, retention, schedules. */
export function defaultKernelServices(): KernelService<any, any>[] {
  return [toolRegistryService, agentRegistryService, taskEngineService, retentionService, scheduleService];
}
