// Error codes are declared once, in errors/error-registry.ts; the error classes live in errors/opspawn-error.ts.
export * from './errors/error-categories.js';
export * from './errors/error-registry.js';
export * from './errors/opspawn-error.js';
