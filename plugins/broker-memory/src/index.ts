import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { MemoryBroker, type MemoryBrokerOptions } from './memory-broker.js';

export { MemoryBroker, type MemoryBrokerOptions } from './memory-broker.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/broker-memory': Partial<MemoryBrokerOptions>;
  }
}

export default definePlugin<MemoryBrokerOptions>({
  register(env) {
    env.provide(extensionPoints.broker, { create: () => new MemoryBroker(env.options, env.logger) });
  },
});
