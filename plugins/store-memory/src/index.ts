import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { MemoryTaskStore } from './memory-task-store.js';

export { MemoryTaskStore, applyChange } from './memory-task-store.js';

export default definePlugin({
  register(env) {
    env.provide(extensionPoints.store, { create: () => new MemoryTaskStore() });
  },
});
