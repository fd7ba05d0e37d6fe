import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { BeeQueueBroker, type BeeQueueBrokerOptions } from './bee-queue-broker.js';

export { BeeQueueBroker, BEE_QUEUE_BROKER_DEFAULTS, type BeeQueueBrokerOptions } from './bee-queue-broker.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/broker-bee-queue': Partial<BeeQueueBrokerOptions>;
  }
}

export default definePlugin<BeeQueueBrokerOptions>({
  register(env) {
    env.provide(extensionPoints.broker, {
      create: () => BeeQueueBroker.open(env.options, env.logger),
      // The task engine drains with its stop timeout first; this closes the connections.
      dispose: (broker) => broker.close(),
    });
  },
});
