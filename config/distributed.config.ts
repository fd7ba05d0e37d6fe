// Sample: a distributed deployment. Tasks live in PostgreSQL, move through bee-queue over Redis, and session
// memory lives in Redis, so any worker can run any task. Start one or more API processes and any number of
// workers, on any machines that reach the same PostgreSQL and Redis:
//
//   npx opspawn start --role api --config config/distributed.config.ts
//   npx opspawn worker --config config/distributed.config.ts
//
// Everything that differs between machines comes from the environment. See docs/how-to/run-a-distributed-deployment.md.
import { defineConfig, plugin } from '@opspawn/plugin-sdk';

const env = process.env;
const apiKey = env.OPSPAWN_API_KEY;

export default defineConfig({
  plugins: [
    plugin('@opspawn/store-postgres', {
      connectionString: '${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/opspawn}',
      schema: '${OPSPAWN_PG_SCHEMA:-public}',
      poolSize: Number(env.OPSPAWN_PG_POOL ?? 10),
    }),
    plugin('@opspawn/broker-bee-queue', {
      url: '${REDIS_URL:-redis://127.0.0.1:6379}',
      queue: '${OPSPAWN_QUEUE:-opspawn}',
    }),
    plugin('@opspawn/memory-redis', {
      url: '${REDIS_URL:-redis://127.0.0.1:6379}',
      keyPrefix: '${OPSPAWN_QUEUE:-opspawn}:memory:',
    }),
    '@opspawn/planner-scripted',
    // Tool files are read from ./tools beside this file (relative paths start at the config file's folder): ship the
    // same files to every worker.
    plugin('@opspawn/tools-quickjs', { dirs: ['./tools'] }),
    // Without OPSPAWN_API_KEY the APIs run in development mode and listen on loopback only.
    plugin('@opspawn/transport-rest', {
      host: env.OPSPAWN_HOST ?? '127.0.0.1',
      port: Number(env.OPSPAWN_HTTP_PORT ?? 8080),
      apiKeys: apiKey ? [{ key: apiKey, name: 'ops', scopes: ['admin'] }] : [],
    }),
    plugin('@opspawn/transport-grpc', {
      host: env.OPSPAWN_HOST ?? '127.0.0.1',
      port: Number(env.OPSPAWN_GRPC_PORT ?? 50051),
      apiKeys: apiKey ? [{ key: apiKey, name: 'ops', scopes: ['admin'] }] : [],
    }),
    // Metrics on when OPSPAWN_METRICS_PORT is set: an API process serves /metrics on its REST port (REST's keys), a
    // worker on this port with OPSPAWN_METRICS_KEY. Give each worker on one machine its own port.
    plugin(
      '@opspawn/metrics-prometheus',
      {
        host: env.OPSPAWN_METRICS_HOST ?? '127.0.0.1',
        port: Number(env.OPSPAWN_METRICS_PORT ?? 9464),
        apiKeys: env.OPSPAWN_METRICS_KEY
          ? [{ key: env.OPSPAWN_METRICS_KEY, name: 'prometheus', scopes: ['read'] }]
          : [],
      },
      { enabled: env.OPSPAWN_METRICS_PORT !== undefined },
    ),
    // Traces on when OPSPAWN_OTLP_URL is set (a collector's /v1/traces): the API's spans as opspawn-api, each
    // worker's as opspawn-worker, one trace per task across them.
    plugin(
      '@opspawn/tracing-otlp',
      {
        url: env.OPSPAWN_OTLP_URL ?? 'http://127.0.0.1:4318/v1/traces',
        ...(env.OPSPAWN_OTLP_FLUSH_MS ? { flushIntervalMs: Number(env.OPSPAWN_OTLP_FLUSH_MS) } : {}),
      },
      { enabled: env.OPSPAWN_OTLP_URL !== undefined },
    ),
  ],
  tasks: {
    // Per worker process: tasks it runs at once (unset: the engine's default, 1000, sized for tasks that wait on models).
    concurrency: env.OPSPAWN_CONCURRENCY ? Number(env.OPSPAWN_CONCURRENCY) : undefined,
    reconcileIntervalMs: Number(env.OPSPAWN_RECONCILE_INTERVAL_MS ?? 30_000),
  },
  log: { level: (env.OPSPAWN_LOG_LEVEL as 'info' | undefined) ?? 'info' },
});
