// The kernel's services a plugin receives by token: logger, task service, tool registry, event bus, health, plugins, agents, schedules.
export type * from '../logger.js';
export type * from '../services/task-service.js';
export type * from '../services/tool-registry.js';
export type * from '../services/event-bus.js';
export type * from '../services/health.js';
export type * from '../services/plugin-registry.js';
export type * from '../services/agent-registry.js';
export type * from '../services/schedule-service.js';
