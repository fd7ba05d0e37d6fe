import type { Logger } from '@opspawn/plugin-sdk';

/** A logger that drops everything: for plugins and brokers built by hand in tests and benches. */
export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child: () => silentLogger,
} as unknown as Logger;
