import { ErrorCodes, OpspawnError, extensionPoints, services } from '@opspawn/plugin-sdk';
import type { KernelService } from '../kernel/kernel-service.js';
import { taskSettings } from '../tasks/task-defaults.js';
import { KernelScheduleService } from './schedule-service.js';
import { Scheduler } from './scheduler.js';

const scheduleDeps = { store: extensionPoints.store, tasks: services.taskService, agents: services.agents };

/** The schedule API and this process's scheduler. */
export interface ScheduleRuntime extends KernelScheduleService {
  readonly scheduler?: Scheduler;
}

/**
 * `kernel:schedules`: the schedule API, the config's schedules upserted, and a scheduler. Every process that has the
 * task engine runs a scheduler, whatever its role (an API-only process submits fires for the workers): the store's
 * compare-and-set and the idempotency key of each due time make them agree, so more processes only add spares.
 */
export const scheduleService: KernelService<KernelScheduleService, typeof scheduleDeps> = {
  id: 'kernel:schedules',
  token: services.schedules as never,
  deps: scheduleDeps,
  // Where the task engine is: the store and the broker are chosen.
  isAvailable: (plan) => Boolean(plan.chosen.store && plan.chosen.broker),
  unavailableHint: 'opspawn plugins add @opspawn/store-sqlite && opspawn plugins add @opspawn/broker-memory',
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
    await service.applyConfig(declared);
    const settings = taskSettings(config.tasks);
    const scheduler = new Scheduler(
      store.schedules,
      tasks,
      { pollMs: settings.schedulePollMs, lateAfterMs: settings.scheduleLateAfterMs },
      logger,
    );
    scheduler.start();
    return Object.assign(service, { scheduler });
  },
  dispose: (service) => (service as ScheduleRuntime).scheduler?.stop(),
};
