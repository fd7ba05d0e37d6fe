import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { McpProxyToolProvider } from './mcp-proxy-tool-provider.js';
import type { McpProxyOptions } from './options.js';

export { McpProxyToolProvider, exposedName } from './mcp-proxy-tool-provider.js';
export type { McpProxyOptions, ServerConfig, StdioServerConfig, HttpServerConfig } from './options.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/mcp-proxy': Partial<McpProxyOptions>;
  }
}

export default definePlugin<McpProxyOptions>({
  register(env) {
    env.provide(extensionPoints.toolProvider, {
      async create() {
        const provider = new McpProxyToolProvider(env.options, env.logger, env.configDir);
        await provider.start();
        return provider;
      },
      dispose: (provider) => provider.close(),
    });
  },
});
