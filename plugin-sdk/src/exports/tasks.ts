// The task: its shape, events, ids, pages and the schema a submission is validated with.
export * from '../task.js';
export * from '../task-event.js';
export * from '../task-id.js';
export * from '../task-pages.js';
export * from '../task-schemas.js';
export * from '../schedule.js';
