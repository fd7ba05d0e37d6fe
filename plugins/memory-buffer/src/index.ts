import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { BufferMemory, type BufferMemoryOptions } from './buffer-memory.js';

export { BufferMemory, approximateTokens, type BufferMemoryOptions } from './buffer-memory.js';

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/memory-buffer': Partial<BufferMemoryOptions>;
  }
}

export default definePlugin<BufferMemoryOptions>({
  register(env) {
    env.provide(extensionPoints.memory, { create: () => new BufferMemory(env.options) });
  },
});
