import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { RedisMemory, type RedisMemoryOptions } from './redis-memory.js';

export { RedisMemory, REDIS_MEMORY_DEFAULTS, type RedisMemoryOptions } from './redis-memory.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/memory-redis': Partial<RedisMemoryOptions>;
  }
}

export default definePlugin<RedisMemoryOptions>({
  register(env) {
    env.provide(extensionPoints.memory, {
      deps: {},
      create: () => RedisMemory.open(env.options),
      dispose: (memory) => memory.close(),
    });
  },
});
