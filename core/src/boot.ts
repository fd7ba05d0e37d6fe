import { OpspawnProblems, type Logger, type PluginInfo, type Token } from '@opspawn/plugin-sdk';
import type { TestKernel, TestKernelOptions } from '@opspawn/plugin-sdk/testing';
import { loadConfig, normalizeConfig, type LoadedConfig } from './config/load-config.js';
import type { ProcessRole } from './kernel/kernel-service.js';
import { Kernel } from './kernel/kernel.js';
import { createLogger } from './logging/create-logger.js';
import { defaultKernelServices } from './tasks/kernel-services.js';

export interface BootOptions {
  /** `--config`; otherwise OPSPAWN_CONFIG, then `opspawn.config.*` in cwd. */
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** What this process does; default `all`. */
  role?: ProcessRole;
  /** Applied over the config file's settings (e.g. `opspawn run` turns off recovery). */
  overrides?: Partial<Pick<LoadedConfig['config'], 'tasks'>>;
}

/** Loads the config and boots a kernel on it: what `opspawn start` does. */
export async function bootKernel(
  options: BootOptions = {},
): Promise<{ kernel: Kernel; loaded: LoadedConfig; logger: Logger }> {
  const loaded = await loadConfig({ path: options.configPath, cwd: options.cwd, env: options.env });
  if (options.overrides?.tasks) loaded.config.tasks = { ...loaded.config.tasks, ...options.overrides.tasks };
  const logger = options.logger ?? createLogger({ level: loaded.config.log?.level, pretty: loaded.config.log?.pretty });
  const kernel = await Kernel.boot(loaded, { logger, kernelServices: defaultKernelServices(), role: options.role });
  return { kernel, loaded, logger };
}

/** The SDK's test harness lands here: a real kernel from a config given in code, silent unless asked. */
export async function startTestKernel(options: TestKernelOptions): Promise<TestKernel> {
  const { cwd, ...config } = options;
  const loaded: LoadedConfig = { config: normalizeConfig(config, process.env), dir: cwd ?? process.cwd() };
  const logger = createLogger({ level: config.log?.level ?? 'silent', pretty: false, destination: process.stderr });
  const kernel = await Kernel.boot(loaded, { logger, kernelServices: defaultKernelServices() });
  return {
    get: ((token: Token<unknown>) => kernel.get(token as Token<unknown, false>)) as TestKernel['get'],
    plugins: (): PluginInfo[] => kernel.pluginInfos(),
    stop: async () => {
      const errors = await kernel.stop();
      if (errors.length > 0) throw new OpspawnProblems(errors);
    },
  };
}
