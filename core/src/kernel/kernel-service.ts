import type { DepsMap, Logger, ResolvedDeps, Token } from '@opspawn/plugin-sdk';
import type { LoadedConfig } from '../config/load-config.js';
import type { StaticPlan } from './static-checks.js';

/**
 * What this process does: `all` serves the APIs and runs tasks (one machine); `api` serves the transports and
 * leaves running to workers; `worker` runs tasks and starts no transport.
 */
export type ProcessRole = 'all' | 'api' | 'worker';

export const PROCESS_ROLES: readonly ProcessRole[] = ['all', 'api', 'worker'];

/**
 * A service the kernel itself provides once the plugins it needs have started (the task engine needs the
 * active store and broker, the tool registry needs every tool provider). It is a node of the same graph as
 * plugins, so its start waits for its dependencies and plugins consuming it wait for it.
 */
export interface KernelService<T = unknown, D extends DepsMap = DepsMap> {
  /** Node id in the graph, e.g. `kernel:tasks`. */
  id: string;
  token: Token<T, false>;
  deps: D;
  /** Whether this deployment has what the service needs; when false, consumers get SERVICE_MISSING. */
  isAvailable(plan: StaticPlan): boolean;
  /** One line telling a user how to make it available. */
  unavailableHint: string;
  create(
    deps: ResolvedDeps<D>,
    ctx: { config: LoadedConfig['config']; plan: StaticPlan; logger: Logger; role: ProcessRole },
  ): Promise<T> | T;
  dispose?(value: T): Promise<void> | void;
}
