import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel, Logger } from '@opspawn/plugin-sdk';

export interface LoggerOptions {
  level?: LogLevel;
  /** Human-readable lines instead of JSON. Default: when stdout is a terminal. */
  pretty?: boolean;
  /** Where logs go. Default stdout. */
  destination?: NodeJS.WritableStream;
}

/** The root logger: JSON lines (pino) for machines, pretty lines for people at a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.OPSPAWN_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const destination = options.destination ?? process.stdout;
  const usePretty = options.pretty ?? Boolean((destination as NodeJS.WriteStream).isTTY);
  const stream = usePretty
    ? pretty({
        destination: destination as NodeJS.WritableStream & { fd?: number },
        colorize: Boolean((destination as NodeJS.WriteStream).isTTY),
        ignore: 'pid,hostname',
        translateTime: 'HH:MM:ss.l',
        sync: true,
      })
    : destination;
  return pino({ level, base: undefined }, stream) as PinoLogger as unknown as Logger;
}
