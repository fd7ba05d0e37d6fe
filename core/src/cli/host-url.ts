import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';
import { loadConfig } from '../config/load-config.js';

const REST_PLUGIN = '@opspawn/transport-rest';
/** transport-rest's own defaults (its package.json `configSchema`). */
const REST_DEFAULT_HOST = '127.0.0.1';
const REST_DEFAULT_PORT = 8080;
/** Where a host listening on every address is reached from this machine. */
const ANY_ADDRESS: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1' };

/** `--url`'s help text, the same for every client command. */
export const HOST_URL_HELP =
  "the host (default: $OPSPAWN_URL, then the REST transport's address in the config, then http://127.0.0.1:8080)";

export interface HostUrlSources {
  /** `--url` */
  url?: string;
  /** The program's `-c, --config`. */
  config?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * The host the client commands talk to: `--url`, then `$OPSPAWN_URL`, then the REST transport of the deployment's
 * config, then http://127.0.0.1:8080. A config named with `-c` or `$OPSPAWN_CONFIG` must load and must enable
 * transport-rest on a known port, or the command stops with why; `./opspawn.config.*` is read only if it loads, since
 * the commands need nothing else from it (ADR 0015).
 */
export async function hostUrl(sources: HostUrlSources): Promise<string> {
  const env = sources.env ?? process.env;
  if (sources.url) return sources.url;
  if (env.OPSPAWN_URL) return env.OPSPAWN_URL;
  const named = sources.config ?? env.OPSPAWN_CONFIG;
  let loaded: Awaited<ReturnType<typeof loadConfig>>;
  try {
    loaded = await loadConfig({ path: sources.config, cwd: sources.cwd, env });
  } catch (error) {
    if (named) throw error;
    return `http://${REST_DEFAULT_HOST}:${REST_DEFAULT_PORT}`;
  }
  const rest = loaded.config.plugins.find((entry) => entry.use === REST_PLUGIN && entry.enabled !== false);
  const options = (rest?.options ?? {}) as { host?: string; port?: number };
  const port = options.port ?? REST_DEFAULT_PORT;
  if (!rest || port === 0) {
    throw new OpspawnError(
      ErrorCodes.INVALID_REQUEST,
      !rest
        ? `${loaded.path} enables no REST transport (${REST_PLUGIN}), so the host has no address to call`
        : `${loaded.path} lets the REST transport pick a free port (port: 0), so its address is not in the config`,
      { hint: 'pass --url http://<host>:<port> or set $OPSPAWN_URL' },
    );
  }
  const configured = options.host ?? REST_DEFAULT_HOST;
  const host = ANY_ADDRESS[configured] ?? configured;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
