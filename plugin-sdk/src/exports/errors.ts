// Errors with a stable code, what a plugin throws and what a user reads.
export * from '../errors.js';
