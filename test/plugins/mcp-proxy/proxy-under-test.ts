import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger, ToolCallContext } from '@opspawn/plugin-sdk';
import type { McpProxyOptions } from '@opspawn/mcp-proxy';

/** The fixture MCP servers of these suites: real processes speaking MCP through the SDK's server side. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export function proxyOptions(
  servers: McpProxyOptions['servers'],
  extra: Partial<McpProxyOptions> = {},
): McpProxyOptions {
  return {
    namespace: 'mcp',
    servers,
    callTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    stopTimeoutMs: 2000,
    reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    ...extra,
  };
}

export const callContext = (ms = 5000, signal = new AbortController().signal): ToolCallContext => ({
  signal,
  deadline: Date.now() + ms,
  log: () => undefined,
});

export interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

/** A logger that keeps what it is told, as the host's log would show it. */
export function recordingLogger(
  lines: LogLine[] = [],
  bound: Record<string, unknown> = {},
): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (fieldsOrMessage: unknown, message?: string): void => {
      const fields = typeof fieldsOrMessage === 'object' && fieldsOrMessage !== null ? fieldsOrMessage : {};
      const text = typeof fieldsOrMessage === 'string' ? fieldsOrMessage : (message ?? '');
      lines.push({ level, fields: { ...bound, ...(fields as Record<string, unknown>) }, message: text });
    };
  return {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (fields: Record<string, unknown>) => recordingLogger(lines, { ...bound, ...fields }),
  } as unknown as Logger & { lines: LogLine[] };
}

/** True when no live process has this pid (an exited process nobody reaped yet counts as gone). */
export function processIsGone(pid: number): boolean {
  try {
    // /proc/<pid>/stat: `pid (comm) state ...`; Z is a zombie, X is dead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /\) [ZX] /.test(stat);
  } catch {
    return true;
  }
}
