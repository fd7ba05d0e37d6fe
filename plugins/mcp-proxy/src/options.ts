export interface StdioServerConfig {
  transport: 'stdio';
  command: string;
  args?: string[];
  /** Set for the process, after the safe defaults and `inheritEnv`. */
  env?: Record<string, string>;
  /**
   * Host environment variables the server also gets, by name, or `true` for all of them. By default it gets only the
   * SDK's safe ones (HOME, LOGNAME, PATH, SHELL, TERM, USER) and its `env`.
   */
  inheritEnv?: boolean | string[];
  cwd?: string;
}

export interface HttpServerConfig {
  transport: 'http';
  url: string;
  headers?: Record<string, string>;
}

export type ServerConfig = (StdioServerConfig | HttpServerConfig) & {
  /** Also offer this server's tools as first-class tools (`mcp__<server>_<tool>`), schemas included. */
  exposeTools?: boolean;
  enabled?: boolean;
  callTimeoutMs?: number;
};

export interface McpProxyOptions {
  /** Prefix of this provider's tools: `mcp__call`, `mcp__list`... */
  namespace: string;
  servers: Record<string, ServerConfig>;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  /** How long a stdio server has to exit once its stdin is closed, and its process group once sent SIGTERM. */
  stopTimeoutMs: number;
  reconnect: { initialDelayMs: number; maxDelayMs: number };
}
