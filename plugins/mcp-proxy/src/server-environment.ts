import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StdioServerConfig } from './options.js';

/**
 * The environment a stdio server starts with: the SDK's safe defaults (HOME, LOGNAME, PATH, SHELL, TERM, USER), the
 * host variables its `inheritEnv` names (all of them with `true`), then its own `env`. A server is third-party code:
 * the host's secrets reach it only when the config says so.
 */
export function serverEnvironment(config: StdioServerConfig): Record<string, string> {
  const names =
    config.inheritEnv === true ? Object.keys(process.env) : Array.isArray(config.inheritEnv) ? config.inheritEnv : [];
  const inherited: Record<string, string> = {};
  for (const name of names) {
    const value = process.env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return { ...getDefaultEnvironment(), ...inherited, ...config.env };
}
