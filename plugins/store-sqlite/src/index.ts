import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { SqliteTaskStore, type SqliteStoreOptions } from './sqlite-task-store.js';

export { SqliteTaskStore, type SqliteStoreOptions } from './sqlite-task-store.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/store-sqlite': Partial<SqliteStoreOptions>;
  }
}

export default definePlugin<SqliteStoreOptions>({
  register(env) {
    env.provide(extensionPoints.store, {
      create: () => SqliteTaskStore.open(env.options, env.configDir),
      dispose: (store) => store.close(),
    });
  },
});
