import {
  definePlugin,
  extensionPoints,
  services,
  type ApiKeyConfig,
  type HttpRouteScope,
  type HttpRoutes,
  type PluginRegistry,
} from '@opspawn/plugin-sdk';
import { MetricsServer } from './metrics-server.js';
import { TaskMetrics } from './task-metrics.js';

export { MetricsServer, type MetricsServerOptions } from './metrics-server.js';
export { CounterFamily, CounterSeries, HistogramFamily, HistogramSeries } from './series.js';
export { TaskMetrics, type TaskMetricsDeps } from './task-metrics.js';

export interface MetricsOptions {
  /** The API-key scope `GET /metrics` needs; `public` asks for no key. */
  scope: HttpRouteScope;
  /**
   * `auto`: on the REST port when transport-rest runs in this process, else on a port of its own (a worker);
   * `rest`: only on the REST port; `own-port`: only on its own port.
   */
  serve: 'auto' | 'rest' | 'own-port';
  /** The own port's address. */
  host: string;
  port: number;
  /** Keys the own port accepts (REST's own keys guard /metrics on the REST port). */
  apiKeys: ApiKeyConfig[];
  allowUnauthenticated: boolean;
  /** prom-client's process and Node.js metrics: event-loop lag, heap, CPU, handles. */
  defaultMetrics: boolean;
}

declare module '@opspawn/plugin-sdk' {
  interface PluginOptionsRegistry {
    '@opspawn/metrics-prometheus': Partial<MetricsOptions>;
  }
}

/** True when transport-rest runs (or is about to start) in this process, so it serves the routes. */
function restRunsHere(plugins: PluginRegistry): boolean {
  return plugins
    .list()
    .some((p) => p.id === 'transport-rest' && ['registered', 'starting', 'started'].includes(p.status));
}

export default definePlugin<MetricsOptions>({
  register(env) {
    const options = env.options;
    const deps = {
      bus: services.eventBus,
      tasks: services.taskService,
      plugins: services.plugins,
      health: services.health,
      broker: extensionPoints.broker,
    };
    let metrics: TaskMetrics | undefined;
    const metricsOf = (d: Omit<ConstructorParameters<typeof TaskMetrics>[0], 'logger'>): TaskMetrics => {
      if (!metrics) {
        metrics = new TaskMetrics({ ...d, logger: env.logger }, { defaultMetrics: options.defaultMetrics });
        metrics.start();
      }
      return metrics;
    };

    if (options.serve !== 'own-port') {
      env.provide(extensionPoints.httpRoutes, {
        deps,
        create(d): HttpRoutes {
          const m = metricsOf(d);
          return {
            prefix: '/metrics',
            routes: [
              {
                method: 'GET',
                path: '/metrics',
                scope: options.scope,
                summary: 'Prometheus metrics of this process (text exposition format)',
                async handle() {
                  const { contentType, text } = await m.scrape();
                  return { headers: { 'content-type': contentType }, body: text };
                },
              },
            ],
            mounted: (address) => env.logger.info({ url: `${address}/metrics` }, 'metrics served on the REST port'),
          };
        },
      });
    }

    env.registerInit({
      deps,
      async init(d) {
        const m = metricsOf(d);
        const ownPort = options.serve === 'own-port' || (options.serve === 'auto' && !restRunsHere(d.plugins));
        if (!ownPort) return () => m.stop();
        const server = new MetricsServer(options, m, env.logger);
        await server.listen();
        env.logger.info({ url: `${server.address()}/metrics` }, 'metrics served on their own port');
        return async () => {
          await server.close();
          m.stop();
        };
      },
    });
  },
});
