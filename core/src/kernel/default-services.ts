import type { KernelService } from './kernel-service.js';

/** The services the kernel provides on top of plugins. The task engine and tool registry join here. */
export function defaultKernelServices(): KernelService<any, any>[] {
  return [];
}
