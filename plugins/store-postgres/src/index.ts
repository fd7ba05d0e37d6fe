import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { PostgresTaskStore, type PostgresStoreOptions } from './postgres-task-store.js';

export { PostgresTaskStore, type PostgresStoreOptions } from './postgres-task-store.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/store-postgres': Partial<PostgresStoreOptions>;
  }
}

export default definePlugin<PostgresStoreOptions>({
  register(env) {
    env.provide(extensionPoints.store, {
      create: () => PostgresTaskStore.open(env.options),
      dispose: (store) => store.close(),
    });
  },
});
