import type { Logger, OpspawnConfig, PluginKind } from '@opspawn/plugin-sdk';
import { loadConfig, normalizeConfig, type LoadedConfig } from './config/load-config.js';
import type { ProcessRole } from './kernel/kernel-service.js';
import { Kernel } from './kernel/kernel.js';
import { createLogger, type LogFormat } from './logging/create-logger.js';
import { defaultKernelServices } from './tasks/kernel-services.js';

export interface BootOptions {
  /** `--config`; otherwise OPSPAWN_CONFIG, then `opspawn.config.*` in cwd. */
  configPath?: string;
  /** A config given in code instead of a file (how @opspawn/testing boots); relative plugin paths resolve from cwd. */
  config?: OpspawnConfig;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** `--log-format`: stronger than $OPSPAWN_LOG_FORMAT and the config's `log.pretty`. */
  logFormat?: LogFormat;
  /** What this process does; default `all`. */
  role?: ProcessRole;
  /**
   * Kinds to refuse to boot without, in one KIND_MISSING line naming the commands that add them. The CLI's
   * `start`, `worker` and `run` pass TASK_KINDS; a plugin's test kernel passes nothing.
   */
  requiredKinds?: readonly PluginKind[];
  /** Applied over the config file's settings (e.g. `opspawn run` turns off recovery). */
  overrides?: Partial<Pick<LoadedConfig['config'], 'tasks'>>;
}

/** Loads the config and boots a kernel on it: what `opspawn start` does. */
export async function bootKernel(
  options: BootOptions = {},
): Promise<{ kernel: Kernel; loaded: LoadedConfig; logger: Logger }> {
  const loaded: LoadedConfig = options.config
    ? { config: normalizeConfig(options.config, options.env ?? process.env), dir: options.cwd ?? process.cwd() }
    : await loadConfig({ path: options.configPath, cwd: options.cwd, env: options.env });
  if (options.overrides?.tasks) loaded.config.tasks = { ...loaded.config.tasks, ...options.overrides.tasks };
  const logger =
    options.logger ??
    createLogger({
      level: loaded.config.log?.level,
      format: options.logFormat,
      pretty: loaded.config.log?.pretty,
    });
  const kernel = await Kernel.boot(loaded, {
    logger,
    kernelServices: defaultKernelServices(),
    role: options.role,
    requiredKinds: options.requiredKinds,
  });
  return { kernel, loaded, logger };
}
