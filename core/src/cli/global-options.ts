import type { LogFormat } from '../logging/create-logger.js';

/**
 * Options of the `opspawn` program itself, which every command reads (`opspawn -c prod.config.ts start`). In a
 * module of their own so the commands need not import `main.ts`, which imports them.
 */
export interface GlobalOptions {
  config?: string;
  logFormat?: LogFormat;
}
