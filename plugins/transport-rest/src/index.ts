import { readFileSync } from 'node:fs';
import { definePlugin, extensionPoints, services } from '@opspawn/plugin-sdk';
import { RestTransport, type RestTransportOptions } from './rest-server.js';

export { RestTransport, type RestTransportOptions } from './rest-server.js';
export { openApiDocument } from './openapi.js';
export { httpStatusFor, problemFor, problemTypes, RETRY_AFTER_SECONDS, type Problem } from './problems.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/transport-rest': Partial<RestTransportOptions>;
  }
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

export default definePlugin<RestTransportOptions>({
  register(env) {
    env.provide(extensionPoints.transport, {
      deps: {
        tasks: services.taskService,
        tools: services.toolRegistry,
        plugins: services.plugins,
        agents: services.agents,
        schedules: services.schedules,
        health: services.health,
        routes: extensionPoints.httpRoutes,
      },
      async create(deps) {
        const transport = new RestTransport(env.options, { ...deps, logger: env.logger, version: VERSION });
        await transport.listen();
        env.logger.info({ addresses: transport.addresses() }, 'REST listening');
        return transport;
      },
      dispose: (transport) => transport.close(),
    });
  },
});
