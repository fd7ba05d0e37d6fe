import type { Broker } from './extension-points/broker.js';
import type { HttpRoutes } from './extension-points/http-route.js';
import type { Memory } from './extension-points/memory.js';
import type { Planner } from './extension-points/planner.js';
import type { TaskStore } from './extension-points/store.js';
import type { ToolProvider } from './extension-points/tool-provider.js';
import type { Transport } from './extension-points/transport.js';
import type { Logger } from './logger.js';
import type { PluginKind } from './manifest.js';
import type { AgentRegistry } from './services/agent-registry.js';
import type { EventBus } from './services/event-bus.js';
import type { Health } from './services/health.js';
import type { PluginRegistry } from './services/plugin-registry.js';
import type { ScheduleService } from './services/schedule-service.js';
import type { TaskService } from './services/task-service.js';
import type { ToolRegistry } from './services/tool-registry.js';

/**
 * A typed injection token. Tokens are compared by `id` (a string), so a plugin bundling its own copy of the
 * SDK still meets the kernel's tokens.
 */
export interface Token<T, TMultiple extends boolean = boolean> {
  readonly id: string;
  /** Extension point this token belongs to; plugins may only provide tokens of their manifest's kinds. */
  readonly kind?: PluginKind;
  /** Many providers; consumers receive `Provided<T>[]`, one entry per providing plugin. */
  readonly multiple: TMultiple;
  /** Phantom field carrying the type. */
  readonly __type?: T;
}

/** One provider's value of a multiple token, with the id of the plugin that provided it. */
export interface Provided<T> {
  plugin: string;
  value: T;
}

export function createToken<T>(id: string, options?: { kind?: PluginKind; multiple?: false }): Token<T, false>;
export function createToken<T>(id: string, options: { kind?: PluginKind; multiple: true }): Token<T, true>;
export function createToken<T>(id: string, options: { kind?: PluginKind; multiple?: boolean } = {}): Token<T> {
  return { id, kind: options.kind, multiple: options.multiple ?? false };
}

/** Extension points: what plugins provide. */
export const extensionPoints = {
  store: createToken<TaskStore>('opspawn.store', { kind: 'store' }),
  broker: createToken<Broker>('opspawn.broker', { kind: 'broker' }),
  planner: createToken<Planner>('opspawn.planner', { kind: 'planner', multiple: true }),
  memory: createToken<Memory>('opspawn.memory', { kind: 'memory', multiple: true }),
  toolProvider: createToken<ToolProvider>('opspawn.tool-provider', { kind: 'tool-provider', multiple: true }),
  transport: createToken<Transport>('opspawn.transport', { kind: 'transport', multiple: true }),
  /** HTTP routes served on the REST transport's port. No kind: any plugin may provide some (metrics, a dashboard). */
  httpRoutes: createToken<HttpRoutes>('opspawn.http-routes', { multiple: true }),
} as const;

/** Kernel services: what plugins consume. `logger` and `pluginConfig` are the plugin's own. */
export const services = {
  logger: createToken<Logger>('opspawn.logger'),
  pluginConfig: createToken<unknown>('opspawn.plugin-config'),
  taskService: createToken<TaskService>('opspawn.task-service'),
  toolRegistry: createToken<ToolRegistry>('opspawn.tool-registry'),
  eventBus: createToken<EventBus>('opspawn.event-bus'),
  health: createToken<Health>('opspawn.health'),
  plugins: createToken<PluginRegistry>('opspawn.plugins'),
  agents: createToken<AgentRegistry>('opspawn.agents'),
  schedules: createToken<ScheduleService>('opspawn.schedules'),
} as const;

/** A typed view of `services.pluginConfig` for a plugin's own options type. */
export function pluginConfigToken<TOptions>(): Token<TOptions, false> {
  return services.pluginConfig as Token<TOptions, false>;
}
