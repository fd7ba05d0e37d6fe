import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import type { QuickJsToolsOptions } from './options.js';
import { QuickJsToolProvider } from './quickjs-tool-provider.js';

export { QuickJsToolProvider } from './quickjs-tool-provider.js';
export { SandboxErrorCodes, type SandboxErrorCode } from './error-codes.js';
export { DEFAULT_OPTIONS, FETCH_DEFAULTS, defaultWorkers } from './options.js';
export type { Capabilities, FetchCapability, QuickJsToolsOptions, SandboxLimits, ToolOverrides } from './options.js';
export type { DisabledTool, ToolFileProblem } from './tool-catalog.js';
export type { PoolStats } from './worker-pool.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/tools-quickjs': Partial<QuickJsToolsOptions>;
  }
}

export default definePlugin<QuickJsToolsOptions>({
  register(env) {
    env.provide(extensionPoints.toolProvider, {
      deps: {},
      create: async () => {
        const provider = new QuickJsToolProvider(env.options, env.logger, env.configDir);
        await provider.start();
        return provider;
      },
      dispose: (provider) => provider.close(),
    });
  },
});
