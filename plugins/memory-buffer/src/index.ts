import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { BufferMemory, type BufferMemoryOptions } from './buffer-memory.js';

export { BufferMemory, BUFFER_MEMORY_DEFAULTS, approximateTokens, type BufferMemoryOptions } from './buffer-memory.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/memory-buffer': Partial<BufferMemoryOptions>;
  }
}

export default definePlugin<BufferMemoryOptions>({
  register(env) {
    env.provide(extensionPoints.memory, {
      deps: {},
      create: () => new BufferMemory(env.options),
      dispose: (memory) => memory.forgetAll(),
    });
  },
});
