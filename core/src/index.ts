export { Kernel, type StartupReport, type KernelOptions } from './kernel/kernel.js';
export type { KernelService } from './kernel/kernel-service.js';
export { DependencyGraph, type GraphNode } from './kernel/dependency-graph.js';
export { checkPlugins, type StaticPlan } from './kernel/static-checks.js';
export { loadConfig, normalizeConfig, findConfigFile, type LoadedConfig } from './config/load-config.js';
export { createLogger } from './logging/create-logger.js';
export { bootKernel, type BootOptions } from './boot.js';
export { CORE_VERSION } from './version.js';
export { RestClient, ApiError, type RestClientOptions } from './client/rest-client.js';
