// What each kind of plugin promises (store, broker, planner, memory, tool provider, transport).
export type * from '../extension-points/store.js';
export type * from '../extension-points/schedule-store.js';
export type * from '../extension-points/broker.js';
export type * from '../extension-points/memory.js';
export type * from '../extension-points/planner.js';
export type * from '../extension-points/tool-provider.js';
export type * from '../extension-points/transport.js';
export type * from '../extension-points/http-route.js';
export * from '../chat-window.js';
