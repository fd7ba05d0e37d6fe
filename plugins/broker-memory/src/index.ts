import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { MemoryBroker, type MemoryBrokerOptions } from './memory-broker.js';

export { MemoryBroker, MEMORY_BROKER_DEFAULTS, type MemoryBrokerOptions } from './memory-broker.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/broker-memory': Partial<MemoryBrokerOptions>;
  }
}

export default definePlugin<MemoryBrokerOptions>({
  register(env) {
    env.provide(extensionPoints.broker, {
      deps: {},
      create: () => new MemoryBroker(env.options, env.logger),
      // The task engine drains with its stop timeout first; this only clears the timer and what is left.
      dispose: (broker) => broker.drain(0),
    });
  },
});
