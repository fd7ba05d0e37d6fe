import type { Health, HealthCheckResult, HealthReport } from '@opspawn/plugin-sdk';

const CHECK_TIMEOUT_MS = 2000;

/** Readiness from plugin states plus every registered check; a check that throws or hangs counts as down. */
export class KernelHealth implements Health {
  private readonly checks = new Map<string, () => HealthCheckResult | Promise<HealthCheckResult>>();
  private stopping = false;

  constructor(private readonly pluginStates: () => Record<string, HealthCheckResult>) {}

  register(name: string, check: () => HealthCheckResult | Promise<HealthCheckResult>): void {
    this.checks.set(name, check);
  }

  markStopping(): void {
    this.stopping = true;
  }

  async report(): Promise<HealthReport> {
    const checks: Record<string, HealthCheckResult> = { ...this.pluginStates() };
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        checks[name] = await runCheck(check);
      }),
    );
    const ready = !this.stopping && Object.values(checks).every((c) => c.state !== 'down');
    return { ready, live: !this.stopping, checks };
  }
}

async function runCheck(check: () => HealthCheckResult | Promise<HealthCheckResult>): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<HealthCheckResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ state: 'down', detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    return { state: 'down', detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
