import type { Logger, ToolCallContext } from '@opspawn/plugin-sdk';

export interface LogLine {
  level: string;
  message: string;
}

/** A tool-call context whose `log` lines are kept in `logs`. */
export function callContext(
  options: { signal?: AbortSignal; deadline?: number; onLog?: (line: LogLine) => void } = {},
): ToolCallContext & { logs: LogLine[] } {
  const logs: LogLine[] = [];
  return {
    signal: options.signal ?? new AbortController().signal,
    deadline: options.deadline ?? Date.now() + 30_000,
    logs,
    log(level, message) {
      const line = { level, message };
      logs.push(line);
      options.onLog?.(line);
    },
  };
}

/** A logger that keeps what it is told, for asserting what an operator would read. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; msg: string; obj: unknown }> } {
  const lines: Array<{ level: string; msg: string; obj: unknown }> = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push({ level, msg: typeof obj === 'string' ? obj : (msg ?? ''), obj });
  };
  const logger = {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return logger;
}

export const fixtures = new URL('./fixtures/', import.meta.url).pathname;
