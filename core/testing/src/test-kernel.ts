import { bootKernel, createLogger } from '@opspawn/core';
import {
  OpspawnProblems,
  type OpspawnConfig,
  type PluginEntry,
  type PluginInfo,
  type Provided,
  type Token,
} from '@opspawn/plugin-sdk';

export interface TestKernelOptions extends Omit<OpspawnConfig, 'plugins'> {
  plugins: Array<string | PluginEntry>;
  /** Directory relative plugin paths resolve from. Default: process.cwd(). */
  cwd?: string;
}

/** A real kernel, booted with the chosen plugins and config; stop it in `after()`. */
export interface TestKernel {
  /** A kernel service or extension point value; multiple tokens give every provider's value. */
  get<T>(token: Token<T, false>): T;
  get<T>(token: Token<T, true>): Provided<T>[];
  plugins(): PluginInfo[];
  /** Stops every plugin in reverse order; rejects with OpspawnProblems naming each plugin that failed to stop. */
  stop(): Promise<void>;
}

/**
 * Boots a real kernel in this process (in the spirit of Backstage's `startTestBackend`), from a config given in
 * code. Logs go to stderr and are silenced unless `log.level` says otherwise.
 */
export async function startTestKernel(options: TestKernelOptions): Promise<TestKernel> {
  const { cwd, ...config } = options;
  const logger = createLogger({ level: config.log?.level ?? 'silent', pretty: false, destination: process.stderr });
  const { kernel } = await bootKernel({ config, cwd, logger });
  return {
    get: ((token: Token<unknown>) => kernel.get(token as Token<unknown, false>)) as TestKernel['get'],
    plugins: () => kernel.pluginInfos(),
    stop: async () => {
      const errors = await kernel.stop();
      if (errors.length > 0) throw new OpspawnProblems(errors);
    },
  };
}
