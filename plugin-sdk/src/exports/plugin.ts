// What a plugin is and how it is wired: definePlugin, the manifest, tokens, defineConfig, the kernel API version.
export { KERNEL_API_VERSION } from '../version.js';
export * from '../manifest.js';
export * from '../plugin.js';
export * from '../tokens.js';
export * from '../config.js';
export type * from '../agent.js';
