import pg from 'pg';
import type { RestClient } from '@opspawn/core';
import { calculationTask, type Cluster, faultCluster, startApiAndTwoWorkers } from '../helpers/cluster.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { POSTGRES_URL, freePort } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import type { DrillDeployment, Scenario } from './scenarios.js';
import { auditStore, countOpen, lastToFinish, type StoreAudit } from './store-audit.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface DrillOptions {
  tasks: number;
  /** Submissions in flight from the drill at once. */
  inFlight: number;
  /**
   * Unfinished tasks the drill lets the deployment hold before it submits more. Without a bound the backlog at the
   * fault is the whole rest of the workload, and the time to all final measures throughput, not recovery.
   */
  maxOpen: number;
  /** The fault starts once this share of the tasks is accepted (and at least 12 tasks run). */
  faultAt: number;
  /** How long after the fault's end the drill waits for every task to be final. */
  waitMs: number;
  /** Sandboxed calculations per task. */
  steps: number;
}

export interface DrillResult extends StoreAudit {
  scenario: string;
  accepted: number;
  /** Submissions whose client saw an error, by error code. */
  refused: Record<string, number>;
  /** Tasks not final when the fault ended (more may still have been submitted after). */
  openAtFaultEnd: number;
  faultSeconds: number;
  /** From the fault's end to every task in the store final; undefined if the wait ran out first. */
  secondsToAllFinal?: number;
  /** The status changes of the task that became final last, in seconds from the fault's end. */
  lastToFinish?: string;
  /** Processes that exited without the drill killing them, with the end of their output. */
  crashed: string[];
}

/** Undoes what a running drill set up; Ctrl-C calls it as well as the drill's own `finally`. */
const cleanups = new Set<() => Promise<void>>();

export async function cleanUpRunningDrills(): Promise<void> {
  await Promise.all([...cleanups].map((cleanup) => cleanup()));
}

/**
 * A fresh deployment (one API process and two workers on a private Redis, PostgreSQL through a proxy), `tasks`
 * submitted over REST with the scenario's fault injected partway, then a wait until every task is final and an
 * audit of the store. Everything it started is stopped, and its schema and queue dropped, however it ends.
 */
export async function runDrill(scenario: Scenario, options: DrillOptions): Promise<DrillResult> {
  let cluster: Cluster | undefined;
  let redis: PrivateRedis | undefined;
  let postgres: TcpProxy | undefined;
  const store = new pg.Client({ connectionString: POSTGRES_URL });
  const abandon = new AbortController();
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      abandon.abort();
      await cluster?.stop();
      await postgres?.close();
      await redis?.stop();
      await store.end().catch(() => undefined);
    })());
  cleanups.add(cleanup);
  try {
    redis = await PrivateRedis.start();
    postgres = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    const apiPort = await freePort();
    // Past this point the clean-up can stop the cluster; before it, there is no cluster to start after Ctrl-C.
    abandon.signal.throwIfAborted();
    cluster = faultCluster({
      REDIS_URL: redis.url,
      DATABASE_URL: postgres.via(POSTGRES_URL),
      OPSPAWN_LOG_LEVEL: 'error',
    });
    const [api, ...workers] = await startApiAndTwoWorkers(cluster, { OPSPAWN_HTTP_PORT: String(apiPort) });
    const deployment: DrillDeployment = { cluster, api, workers, apiPort, redis, postgres };
    await store.connect();

    const tally: SubmissionTally = { accepted: [], refused: {} };
    const submitting = submitThroughFaults(
      () => cluster!.api!,
      store,
      cluster.schema,
      options,
      scenario.name,
      tally,
      abandon.signal,
    );
    // Awaited below; if the drill fails first, the submissions it abandons must not fail the whole run.
    submitting.catch(() => undefined);
    await untilFaultTime(store, cluster.schema, options, tally, submitting);

    const faultStart = performance.now();
    await scenario.inject(deployment);
    const faultEnd = performance.now();
    const faultEndedAt = Date.now();
    const openAtFaultEnd = await countOpen(store, cluster.schema);

    await submitting;
    let secondsToAllFinal: number | undefined;
    while (performance.now() - faultEnd < options.waitMs) {
      if ((await countOpen(store, cluster.schema)) === 0) {
        secondsToAllFinal = (performance.now() - faultEnd) / 1000;
        break;
      }
      await sleep(100);
    }

    const audit = await auditStore(store, cluster.schema, tally.accepted);
    // Only the drill sends SIGKILL; any other end of a process is a crash.
    const crashed = cluster.processes
      .filter((host) => host.child.exitCode !== null || (host.child.signalCode ?? 'SIGKILL') !== 'SIGKILL')
      .map((host) => `${host.name} (pid ${host.pid}) exited:\n${host.output.slice(-2000)}`);
    return {
      scenario: scenario.name,
      accepted: tally.accepted.length,
      refused: tally.refused,
      openAtFaultEnd,
      faultSeconds: (faultEnd - faultStart) / 1000,
      secondsToAllFinal,
      crashed,
      lastToFinish: await lastToFinish(store, cluster.schema, faultEndedAt),
      ...audit,
    };
  } finally {
    await cleanup();
    cleanups.delete(cleanup);
  }
}

interface SubmissionTally {
  accepted: string[];
  refused: Record<string, number>;
}

/**
 * Submits every task over REST, `inFlight` at a time, through whatever the fault does to the API, keeping at most
 * `maxOpen` tasks unfinished (read from the store every 50 ms) as a client with a bounded backlog would. A refused
 * submission is counted, not retried (it is not "accepted"); its client waits 1 s before the next one.
 */
async function submitThroughFaults(
  api: () => RestClient,
  store: pg.Client,
  schema: string,
  options: DrillOptions,
  run: string,
  tally: SubmissionTally,
  abandoned: AbortSignal,
): Promise<void> {
  let next = 0;
  let inFlight = 0;
  let open = 0;
  let done = false;
  const watching = (async () => {
    while (!done && !abandoned.aborted) {
      open = await countOpen(store, schema);
      await sleep(50);
    }
  })();
  try {
    await Promise.all(
      Array.from({ length: options.inFlight }, async () => {
        while (next < options.tasks && !abandoned.aborted) {
          if (open + inFlight >= options.maxOpen) {
            await sleep(10);
            continue;
          }
          const i = next++;
          inFlight++;
          try {
            tally.accepted.push((await api().submit(calculationTask(run, i, options.steps))).id);
          } catch (error) {
            const code = (error as { code?: string }).code ?? String(error);
            tally.refused[code] = (tally.refused[code] ?? 0) + 1;
            await sleep(1000);
          } finally {
            inFlight--;
          }
        }
      }),
    );
  } finally {
    done = true;
    await watching;
  }
}

/** Waits until `faultAt` of the tasks are accepted and at least 12 run at once (both workers busy). */
async function untilFaultTime(
  store: pg.Client,
  schema: string,
  options: DrillOptions,
  tally: SubmissionTally,
  submitting: Promise<void>,
): Promise<void> {
  let submitted = false;
  void submitting.then(() => (submitted = true));
  const deadline = performance.now() + 120_000;
  for (;;) {
    if (tally.accepted.length >= options.tasks * options.faultAt || submitted) {
      const { rows } = await store.query(
        `SELECT count(*)::int AS running FROM ${schema}.opspawn_tasks WHERE status = 'running'`,
      );
      if (rows[0].running >= 12) return;
    }
    if (performance.now() > deadline) throw new Error('the drill never had 12 tasks running at once');
    await sleep(20);
  }
}
