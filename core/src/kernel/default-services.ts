import { taskEngineService, toolRegistryService } from '../tasks/kernel-services.js';
import { retentionService } from '../tasks/task-retention.js';
import type { KernelService } from './kernel-service.js';

/** The services the kernel provides on top of plugins: the tool registry, the task engine, retention. */
export function defaultKernelServices(): KernelService<any, any>[] {
  return [toolRegistryService, taskEngineService, retentionService];
}
