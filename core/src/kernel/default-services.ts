import { taskEngineService, toolRegistryService } from '../tasks/kernel-services.js';
import type { KernelService } from './kernel-service.js';

/** The services the kernel provides on top of plugins: the tool registry and the task engine. */
export function defaultKernelServices(): KernelService<any, any>[] {
  return [toolRegistryService, taskEngineService];
}
