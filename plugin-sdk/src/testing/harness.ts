import type { OpspawnConfig, PluginEntry } from '../config.js';
import type { PluginInfo } from '../services/plugin-registry.js';
import type { Token, Provided } from '../tokens.js';

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
  stop(): Promise<void>;
}

/**
 * Boots a real kernel in this process (in the spirit of Backstage's `startTestBackend`). Log output is
 * silenced unless `log.level` says otherwise. Needs `@opspawn/core` installed beside the SDK.
 */
export async function startTestKernel(options: TestKernelOptions): Promise<TestKernel> {
  const coreModule = '@opspawn/core';
  const core = (await import(coreModule)) as { startTestKernel(options: TestKernelOptions): Promise<TestKernel> };
  return core.startTestKernel(options);
}
