import type { PluginKind } from '../manifest.js';

export type PluginStatus =
  | 'registered'
  | 'starting'
  | 'started'
  | 'failed'
  | 'inactive'
  | 'disabled'
  | 'stopping'
  | 'stopped';

/** What `opspawn plugins list` and `GET /v1/plugins` show of one plugin. */
export interface PluginInfo {
  id: string;
  version: string;
  kinds: PluginKind[];
  status: PluginStatus;
  /** The npm package name or path the config gave. */
  source: string;
  packageName: string;
  /** Milliseconds its start took. */
  startMs?: number;
  error?: { code: string; message: string; phase?: string };
}

export interface PluginRegistry {
  list(): PluginInfo[];
}
