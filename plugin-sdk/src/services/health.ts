export type HealthState = 'ok' | 'degraded' | 'down';

export interface HealthCheckResult {
  state: HealthState;
  detail?: string;
}

export interface HealthReport {
  /** Every started plugin is up and every check answers ok or degraded. */
  ready: boolean;
  /** The process is alive and the kernel not stopping. */
  live: boolean;
  checks: Record<string, HealthCheckResult>;
}

/** Aggregates readiness from plugins. A provided value with a `health()` method is registered automatically. */
export interface Health {
  register(name: string, check: () => HealthCheckResult | Promise<HealthCheckResult>): void;
  report(): Promise<HealthReport>;
}
