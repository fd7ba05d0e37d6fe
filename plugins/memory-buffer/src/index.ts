import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { BufferMemory, type BufferMemoryOptions } from './buffer-memory.js';

export { BufferMemory, BUFFER_MEMORY_DEFAULTS, type BufferMemoryOptions } from './buffer-memory.js';
/** Moved to the SDK so every memory counts tokens alike; re-exported for code that imported it from here. */
export { approximateTokens } from '@opspawn/plugin-sdk';

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
