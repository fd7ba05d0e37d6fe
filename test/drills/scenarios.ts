import type { Cluster, HostProcess } from '../helpers/cluster.js';
import type { PrivateRedis } from '../helpers/private-redis.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The deployment a drill runs on: its processes, and the Redis and the PostgreSQL link a fault may break. */
export interface DrillDeployment {
  cluster: Cluster;
  api: HostProcess;
  workers: HostProcess[];
  /** The API's fixed port: a restarted API process listens where its clients already send. */
  apiPort: number;
  redis: PrivateRedis;
  /** Every process reaches PostgreSQL through this proxy; the drill itself reads the store directly. */
  postgres: TcpProxy;
}

export interface Scenario {
  name: string;
  /** What the fault is and when it ends, for the report. */
  fault: string;
  /** Breaks the deployment while tasks run, and resolves when the fault is over. */
  inject(deployment: DrillDeployment): Promise<void>;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'baseline',
    fault: 'no fault: the clock starts where a fault would; the time to drain the same backlog unharmed',
    inject: async () => undefined,
  },
  {
    name: 'worker-kill',
    fault: 'kill -9 of a worker running tasks; ends when its replacement (as a supervisor would start) is ready',
    async inject(deployment) {
      const victim = deployment.workers[0]!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      deployment.workers[0] = await deployment.cluster.startWorker();
    },
  },
  {
    name: 'api-kill',
    fault: 'kill -9 of the API process, down 3 s; ends when a new one listens on the same port',
    async inject(deployment) {
      deployment.api.child.kill('SIGKILL');
      await deployment.api.exited;
      await sleep(3000);
      deployment.api = await deployment.cluster.startApi([], { OPSPAWN_HTTP_PORT: String(deployment.apiPort) });
    },
  },
  {
    name: 'redis-restart',
    fault: 'kill -9 of Redis, down 3 s, started again empty; ends when it accepts connections',
    inject: (deployment) => deployment.redis.restart(3000, 'SIGKILL'),
  },
  {
    name: 'postgres-cut',
    fault: 'every connection to PostgreSQL reset, and new ones refused, for 5 s',
    async inject(deployment) {
      deployment.postgres.cutConnections();
      await sleep(5000);
      deployment.postgres.restore();
    },
  },
];
