import { readFileSync } from 'node:fs';

/** @opspawn/core's own version, read from its package.json. */
export const CORE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
