import type {
  BatchItemResult,
  ApprovalDecision,
  Broker,
  Delivery,
  EventBus,
  Logger,
  Memory,
  Planner,
  Provided,
  SubmitTaskRequest,
  Task,
  TaskIdentity,
  TaskEngineConfig,
  TaskEvent,
  TaskStreamEvent,
  TaskPage,
  TaskQuery,
  TaskService,
  TaskStore,
  ToolRegistry,
  WatchOptions,
} from '@opspawn/plugin-sdk';
import type { ConfigAgentRegistry } from '../agents/agent-registry.js';
import { TaskEvents } from './task-events.js';
import { AttemptLeases } from './attempt-leases.js';
import { Handoffs } from './handoffs.js';
import { TaskRecovery } from './task-recovery.js';
import { KernelTaskService } from './task-service.js';
import { TaskTransitions } from './task-transitions.js';
import { TaskWorker } from './task-worker.js';

/**
 * Of the stop timeout, what is kept for handing back the tasks still running at the drain's deadline (at most half
 * of it): each aborted attempt writes its task back as queued and enqueues it, a few round trips that a loaded
 * machine may take seconds to make.
 */
const HAND_BACK_MS = 2000;

export interface TaskEngineDeps {
  store: TaskStore;
  broker: Broker;
  planners: Provided<Planner>[];
  memories: Provided<Memory>[];
  tools: ToolRegistry;
  agents: ConfigAgentRegistry;
  bus: EventBus;
  logger: Logger;
  settings: Required<TaskEngineConfig>;
  defaultPlanner?: string;
  defaultMemory?: string;
  stopTimeoutMs: number;
  /** false in an API-only process: it submits and serves tasks, other processes run them. */
  consume: boolean;
}

/**
 * `kernel:tasks` in one process: the task service, and, unless the process only serves the API, the worker
 * consuming deliveries and the recovery handing back lost work. Status lives in the store; every change is one of
 * the compare-and-set transitions, so with at-least-once delivery a task still reaches exactly one final state.
 */
export class TaskEngine implements TaskService {
  private readonly service: KernelTaskService;
  private readonly worker: TaskWorker;
  private readonly recovery: TaskRecovery;
  private readonly leases: AttemptLeases;
  private stopListeningForReconnects?: () => void;
  /** Deliveries this process is running, hand-backs included: `stop` waits for them until its deadline. */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly deps: TaskEngineDeps) {
    const { store, broker, bus, logger, settings } = deps;
    const events = new TaskEvents(store, bus);
    const transitions = new TaskTransitions(events);
    const planners = new Map(deps.planners.map((p) => [p.plugin, p.value]));
    const memories = new Map(deps.memories.map((m) => [m.plugin, m.value]));
    this.service = new KernelTaskService({
      store,
      broker,
      bus,
      events,
      transitions,
      planners,
      memories,
      defaultPlanner: deps.defaultPlanner,
      defaultMemory: deps.defaultMemory,
      agents: deps.agents,
      settings,
      logger,
    });
    this.recovery = new TaskRecovery({ store, broker, transitions, settings, logger });
    this.leases = new AttemptLeases(store, settings.leaseMs, logger);
    const handoffs = new Handoffs({
      store,
      bus,
      events,
      service: this.service,
      agents: deps.agents,
      settings,
      logger,
      runInline: (task, signal) => this.worker.runInline(task, signal),
    });
    this.service.cancelRequested = (id) => handoffs.cancelRequested(id);
    this.worker = new TaskWorker({
      store,
      broker,
      events,
      transitions,
      recovery: this.recovery,
      leases: this.leases,
      planners,
      memories,
      tools: deps.tools,
      agents: deps.agents,
      handoffs,
      settings,
      logger,
    });
  }

  /**
   * Starts consuming; re-queues unfinished tasks first when the broker keeps no state of its own. With a durable
   * broker, starts the periodic sweep that hands back work the broker lost.
   */
  async start(): Promise<void> {
    const { broker, settings, logger } = this.deps;
    // API processes too: a task stored but not enqueued (a refused enqueue, a process that died between the two
    // writes) is enqueued when this process starts and whenever the broker comes back, not at the next sweep.
    const enqueueStored = (why: 'start' | 'broker reconnected') =>
      this.recovery
        .enqueueStoredQueued(why)
        .catch((error) => logger.warn({ err: error }, `enqueueing stored tasks (${why}) failed; the sweep retries`));
    this.stopListeningForReconnects = broker.onReconnect?.(() => void enqueueStored('broker reconnected'));
    if (!broker.recoversOnStart && settings.recoverOnStart) void enqueueStored('start');
    if (!this.deps.consume) {
      if (broker.recoversOnStart)
        logger.warn(
          'this api process has an in-process broker: tasks submitted here wait for a worker of this process, and there is none; use a broker that spans processes (broker-bee-queue)',
        );
      return;
    }
    if (broker.recoversOnStart && settings.recoverOnStart) await this.recovery.recoverOnStart();
    this.recovery.startApprovalExpiry();
    // With a durable broker other processes run tasks too: attempts here hold leases (from the first delivery on),
    // and the attempts of workers that died are taken back.
    if (!broker.recoversOnStart) this.leases.start();
    await broker.consume((delivery) => this.run(delivery), { concurrency: settings.concurrency });
    if (broker.recoversOnStart) return;
    this.recovery.startLeaseWatch();
    this.recovery.startSweep();
  }

  /**
   * Stops within the stop timeout (the kernel's limit for this step): running tasks may finish until the hand-back's
   * share of it is left; then the broker aborts them, each goes back to the queue, and the engine waits for those
   * hand-backs until the deadline and no longer. A task not handed back by then keeps its running attempt, whose
   * lease nobody renews: another worker takes it back.
   */
  async stop(): Promise<void> {
    const { broker, stopTimeoutMs, logger } = this.deps;
    const deadline = Date.now() + stopTimeoutMs;
    this.stopListeningForReconnects?.();
    this.service.stop();
    await this.recovery.stop();
    const handBackMs = Math.min(HAND_BACK_MS, stopTimeoutMs / 2);
    await untilSettledOr(broker.drain(Math.max(0, deadline - handBackMs - Date.now())), deadline);
    if (!(await untilSettledOr(Promise.allSettled([...this.running]), deadline)))
      logger.warn(
        { running: this.running.size },
        `stop: ${this.running.size} task(s) not handed back within the stop timeout (${stopTimeoutMs} ms); their leases run out and another worker takes them back`,
      );
    await this.leases.stop();
  }

  private run(delivery: Delivery): Promise<void> {
    const run = this.worker.run(delivery);
    this.running.add(run);
    return run.finally(() => this.running.delete(run));
  }

  submit(request: SubmitTaskRequest): Promise<{ task: Task; created: boolean }> {
    return this.service.submit(request);
  }

  submitBatch(requests: readonly SubmitTaskRequest[]): Promise<BatchItemResult[]> {
    return this.service.submitBatch(requests);
  }

  get(id: string): Promise<Task> {
    return this.service.get(id);
  }

  identity(id: string): Promise<TaskIdentity> {
    return this.service.identity(id);
  }

  knownIdentity(id: string): TaskIdentity | undefined {
    return this.service.knownIdentity(id);
  }

  list(query?: TaskQuery): Promise<TaskPage> {
    return this.service.list(query);
  }

  cancel(id: string): Promise<Task> {
    return this.service.cancel(id);
  }

  decide(id: string, callId: string, decision: ApprovalDecision, by?: string): Promise<Task> {
    return this.service.decide(id, callId, decision, by);
  }

  events(id: string, afterSeq?: number, limit?: number): Promise<TaskEvent[]> {
    return this.service.events(id, afterSeq, limit);
  }

  watch(id: string, options?: WatchOptions): AsyncIterable<TaskEvent> {
    return this.service.watch(id, options);
  }

  watchLive(id: string, options?: WatchOptions): AsyncIterable<TaskStreamEvent> {
    return this.service.watchLive(id, options);
  }
}

/** Waits for `promise` until `deadline` (epoch ms): true if it resolved first, false if the deadline came first. */
async function untilSettledOr(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
