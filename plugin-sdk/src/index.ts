// Everything a plugin imports, one concern per subpath (`@opspawn/plugin-sdk/<name>`, entry file exports/<name>.ts);
// this entry re-exports every subpath except `testing`. A new module goes into its concern's entry file.
export * from './exports/plugin.js';
export * from './exports/errors.js';
export * from './exports/tasks.js';
export * from './exports/extension-points.js';
export * from './exports/services.js';
export * from './exports/building-blocks.js';
