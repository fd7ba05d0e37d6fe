import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel, Logger } from '@opspawn/plugin-sdk';

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** `pretty`: one human line per entry; `json`: pino's JSON lines. Default: $OPSPAWN_LOG_FORMAT, then `pretty`
   * (the config's `log.pretty`), then pretty when the destination is a terminal. */
  format?: LogFormat;
  /** The config's `log.pretty`: weaker than `format` and $OPSPAWN_LOG_FORMAT. */
  pretty?: boolean;
  /** Where logs go. Default stdout. */
  destination?: NodeJS.WritableStream;
}

/** Fields a person does not need on every line: the startup table already shows `plugins`. */
const HIDDEN_WHEN_PRETTY = 'pid,hostname,plugin,plugins';

/** The root logger: JSON lines (pino) for machines, one readable line per entry for people at a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.OPSPAWN_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const destination = options.destination ?? process.stdout;
  const isTty = Boolean((destination as NodeJS.WriteStream).isTTY);
  const format = resolveLogFormat(options, isTty);
  const stream =
    format === 'pretty'
      ? pretty({
          destination: destination as NodeJS.WritableStream & { fd?: number },
          colorize: isTty,
          ignore: HIDDEN_WHEN_PRETTY,
          messageFormat: '{if plugin}[{plugin}] {end}{msg}',
          singleLine: true,
          translateTime: 'HH:MM:ss.l',
          sync: true,
        })
      : destination;
  return pino({ level, base: undefined }, stream) as PinoLogger as unknown as Logger;
}

function resolveLogFormat(options: LoggerOptions, isTty: boolean): LogFormat {
  if (options.format) return options.format;
  const fromEnv = process.env.OPSPAWN_LOG_FORMAT;
  if (fromEnv === 'pretty' || fromEnv === 'json') return fromEnv;
  if (options.pretty !== undefined) return options.pretty ? 'pretty' : 'json';
  return isTty ? 'pretty' : 'json';
}
