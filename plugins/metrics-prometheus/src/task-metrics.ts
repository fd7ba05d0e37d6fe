import {
  BoundedMap,
  FINAL_STATUSES,
  type Broker,
  type EventBus,
  type Health,
  type HealthReport,
  type Logger,
  type PluginRegistry,
  type TaskIdentity,
  type TaskService,
  type TaskStreamEvent,
  type TokenUsage,
} from '@opspawn/plugin-sdk';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from './series.js';

/** Buckets of task and queue-wait durations, in seconds: agent tasks take from milliseconds to many minutes. */
const TASK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** Buckets of tool-call and planner-decision durations, in seconds. */
const CALL_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Tasks followed at once; beyond, the oldest is forgotten (a task finished in another process never says so here). */
const MAX_TRACKED = 10_000;
const HEALTH_STATES = ['ok', 'degraded', 'down'] as const;
/**
 * Distinct `model` label values one process keeps; later ones are counted as `other`. Models come from the config
 * (an agent's or a planner's option), so a deployment has a handful: the cap only guards against a planner that
 * names models from elsewhere.
 */
const MAX_MODELS = 20;

/** What a task's labels come from: its identity, which the kernel knows without a read for the tasks it wrote. */
interface TaskLabels {
  agent: string;
  planner: string;
  createdAt: number;
}

/** What this process knows of one task it has seen events of. */
interface Tracked {
  /** The task's labels once known (null: the task could not be read); until then, `reading` is waited for. */
  labels?: TaskLabels | null;
  reading?: Promise<TaskLabels | null>;
  /** When the attempt waiting or running was queued / started here (ms since the epoch). */
  queuedAt?: number;
  runningAt?: number;
  /** The last event of the running attempt: a planner decision is timed from it. */
  lastAt?: number;
}

export interface TaskMetricsDeps {
  bus: EventBus;
  tasks: TaskService;
  plugins: PluginRegistry;
  health: Health;
  broker?: Broker;
  logger: Logger;
}

/**
 * The deployment's metrics in one prom-client registry of its own. Task metrics come from the events published in
 * this process (`EventBus.subscribeLocal`): each process counts the work it did, so summing over the processes
 * Prometheus scrapes counts every task once. Gauges of queue depth, plugins and health are read at scrape time.
 */
export class TaskMetrics {
  readonly registry = new Registry();
  private readonly tracked = new BoundedMap<string, Tracked>(MAX_TRACKED);
  private readonly inFlight = new Set<string>();
  private unsubscribe?: () => void;

  private readonly submitted = new CounterFamily({
    name: 'opspawn_tasks_submitted_total',
    help: 'Tasks created in this process (submitted, or handed off to by another task), by agent',
    labelNames: ['agent'] as const,
    registry: this.registry,
  });
  private readonly transitions = new CounterFamily({
    name: 'opspawn_task_status_changes_total',
    help: 'Status events appended in this process, by the status entered and agent',
    labelNames: ['status', 'agent'] as const,
    registry: this.registry,
  });
  private readonly finished = new CounterFamily({
    name: 'opspawn_tasks_finished_total',
    help: 'Tasks that reached a final status in this process, by status and agent',
    labelNames: ['status', 'agent'] as const,
    registry: this.registry,
  });
  private readonly duration = new HistogramFamily({
    name: 'opspawn_task_duration_seconds',
    help: 'From a task’s creation to its final status, by status and agent',
    labelNames: ['status', 'agent'] as const,
    buckets: TASK_BUCKETS,
    registry: this.registry,
  });
  private readonly attemptDuration = new HistogramFamily({
    name: 'opspawn_task_attempt_duration_seconds',
    help: 'From an attempt’s running status to the status that ended it (final, or queued for a retry), by that status and agent',
    labelNames: ['status', 'agent'] as const,
    buckets: TASK_BUCKETS,
    registry: this.registry,
  });
  private readonly queueWait = new HistogramFamily({
    name: 'opspawn_task_queue_wait_seconds',
    help: 'From a task’s queued status (its creation for a first attempt) to its running status, by agent',
    labelNames: ['agent'] as const,
    buckets: TASK_BUCKETS,
    registry: this.registry,
  });
  private readonly steps = new CounterFamily({
    name: 'opspawn_task_steps_total',
    help: 'Planner decisions (plan and final events), by agent and planner',
    labelNames: ['agent', 'planner'] as const,
    registry: this.registry,
  });
  private readonly decision = new HistogramFamily({
    name: 'opspawn_planner_decision_duration_seconds',
    help: 'From the event before a decision (the attempt’s start or the last tool result) to the decision, by planner',
    labelNames: ['planner'] as const,
    buckets: CALL_BUCKETS,
    registry: this.registry,
  });
  private readonly toolCalls = new CounterFamily({
    name: 'opspawn_tool_calls_total',
    help: 'Tool calls that returned, by tool and outcome (ok, error)',
    labelNames: ['tool', 'outcome'] as const,
    registry: this.registry,
  });
  private readonly toolDuration = new HistogramFamily({
    name: 'opspawn_tool_call_duration_seconds',
    help: 'Duration of tool calls as the tool registry measured it, by tool and outcome',
    labelNames: ['tool', 'outcome'] as const,
    buckets: CALL_BUCKETS,
    registry: this.registry,
  });
  private readonly llmCalls = new CounterFamily({
    name: 'opspawn_llm_calls_total',
    help: 'LLM calls that reported token usage, by planner and model',
    labelNames: ['planner', 'model'] as const,
    registry: this.registry,
  });
  private readonly tokens = new CounterFamily({
    name: 'opspawn_llm_tokens_total',
    help: 'Tokens the LLM calls used, by planner, model and direction (input, output)',
    labelNames: ['planner', 'model', 'direction'] as const,
    registry: this.registry,
  });
  private readonly llmDuration = new HistogramFamily({
    name: 'opspawn_llm_call_duration_seconds',
    help: 'Planner decisions that called an LLM, from the event before the decision to the decision, by planner and model',
    labelNames: ['planner', 'model'] as const,
    buckets: CALL_BUCKETS,
    registry: this.registry,
  });
  private readonly models = new Set<string>();
  private readonly handoffs = new CounterFamily({
    name: 'opspawn_handoffs_total',
    help: 'Child tasks an agent handed off to, by the agent called',
    labelNames: ['agent'] as const,
    registry: this.registry,
  });

  constructor(
    private readonly deps: TaskMetricsDeps,
    options: { defaultMetrics: boolean },
  ) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const inFlight = this.inFlight;
    new Gauge({
      name: 'opspawn_tasks_in_flight',
      help: 'Attempts running in this process',
      registers: [this.registry],
      collect() {
        this.set(inFlight.size);
      },
    });
    const broker = deps.broker;
    new Gauge({
      name: 'opspawn_queue_depth',
      help: 'Jobs waiting in the broker, by priority and state (ready, delayed); absent when the broker cannot count',
      labelNames: ['priority', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const depth = (await broker?.depth?.().catch(() => undefined)) ?? [];
        for (const d of depth) {
          this.set({ priority: String(d.priority), state: 'ready' }, d.ready);
          this.set({ priority: String(d.priority), state: 'delayed' }, d.delayed);
        }
      },
    });
    const plugins = deps.plugins;
    new Gauge({
      name: 'opspawn_plugin_up',
      help: 'Plugins of this process: 1 started, 0 not (failed, stopping...); inactive and disabled ones are left out',
      labelNames: ['plugin', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of plugins.list()) {
          if (p.status === 'inactive' || p.status === 'disabled') continue;
          this.set({ plugin: p.id, status: p.status }, p.status === 'started' ? 1 : 0);
        }
      },
    });
    // One health report serves both gauges of a scrape (they collect concurrently).
    let pending: Promise<HealthReport> | undefined;
    const report = () => (pending ??= deps.health.report().finally(() => setImmediate(() => (pending = undefined))));
    new Gauge({
      name: 'opspawn_ready',
      help: 'Whether this process is ready (every started plugin up and every check ok or degraded)',
      registers: [this.registry],
      async collect() {
        this.set((await report()).ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'opspawn_health_check',
      help: 'Health checks of the plugins’ services: 1 for the state each is in, 0 for the others',
      labelNames: ['check', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [check, result] of Object.entries((await report()).checks))
          for (const state of HEALTH_STATES) this.set({ check, state }, result.state === state ? 1 : 0);
      },
    });
  }

  start(): void {
    this.unsubscribe = this.deps.bus.subscribeLocal((event) => this.observe(event));
  }

  stop(): void {
    this.unsubscribe?.();
    this.tracked.clear();
    this.inFlight.clear();
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /**
   * One event published here. Cheap on the task's path: a map lookup and a few field updates (see `series.ts`).
   * A task's labels (agent, planner) come from the identity the kernel remembers for the tasks it wrote; for one it
   * does not (written by another process), what needs them waits for one store read, off the path. Event types and
   * statuses it does not know (added later) are counted by value where a metric takes any status, and otherwise
   * ignored.
   */
  private observe(event: TaskStreamEvent): void {
    if (event.type === 'delta') return;
    // Events reach this listener as they are published, right after their write: the clock now is their time, and
    // reading it costs a tenth of parsing `event.at` (the listener's largest line in the tasks bench's profile).
    const at = Date.now();
    switch (event.type) {
      case 'status': {
        const { status, attempt } = event.data;
        const t = this.track(event.taskId);
        const { queuedAt, runningAt } = t;
        if (status === 'running') {
          this.inFlight.add(event.taskId);
          t.runningAt = at;
          t.lastAt = at;
        } else {
          this.inFlight.delete(event.taskId);
          t.runningAt = undefined;
          t.lastAt = undefined;
        }
        if (status === 'queued') t.queuedAt = at;
        const final = (FINAL_STATUSES as readonly string[]).includes(status);
        if (final) this.tracked.delete(event.taskId);
        if (t.labels !== undefined) this.countStatus(t.labels, status, attempt, at, queuedAt, runningAt);
        else void t.reading?.then((l) => this.countStatus(l, status, attempt, at, queuedAt, runningAt));
        return;
      }
      case 'plan':
      case 'final': {
        const t = this.track(event.taskId);
        const since = t.lastAt;
        t.lastAt = at;
        const { usage } = event.data;
        const model = this.modelLabel(event.data.model);
        if (t.labels !== undefined) this.countDecision(t.labels, model, usage, at, since);
        else void t.reading?.then((l) => this.countDecision(l, model, usage, at, since));
        return;
      }
      case 'tool_result': {
        const t = this.tracked.get(event.taskId);
        if (t) t.lastAt = at;
        const { tool } = event.data;
        const outcome = event.data.ok ? 'ok' : 'error';
        this.toolCalls.at(tool, outcome).inc();
        this.toolDuration.at(tool, outcome).observe(event.data.durationMs / 1000);
        return;
      }
      case 'handoff':
        this.handoffs.at(event.data.agent).inc();
        return;
      default:
        // tool_call and log carry nothing counted here; a type added later is left alone until it is.
        return;
    }
  }

  /** A status event's counts, given its task's labels (null: the task could not be read). */
  private countStatus(
    labels: TaskLabels | null,
    status: string,
    attempt: number,
    at: number,
    queuedAt: number | undefined,
    runningAt: number | undefined,
  ): void {
    const agent = labels?.agent ?? '';
    this.transitions.at(status, agent).inc();
    if (status === 'queued' && attempt === 0) this.submitted.at(agent).inc();
    if (status === 'running') {
      const since = queuedAt ?? (attempt === 1 ? labels?.createdAt : undefined);
      if (since !== undefined) this.queueWait.at(agent).observe(seconds(at - since));
    } else if (runningAt !== undefined) {
      this.attemptDuration.at(status, agent).observe(seconds(at - runningAt));
    }
    if ((FINAL_STATUSES as readonly string[]).includes(status)) {
      this.finished.at(status, agent).inc();
      if (labels) this.duration.at(status, agent).observe(seconds(at - labels.createdAt));
    }
  }

  /** A planner decision's counts (plan or final event), given its task's labels. */
  private countDecision(
    labels: TaskLabels | null,
    model: string,
    usage: TokenUsage | undefined,
    at: number,
    since: number | undefined,
  ): void {
    const planner = labels?.planner ?? '';
    this.steps.at(labels?.agent ?? '', planner).inc();
    if (since !== undefined) this.decision.at(planner).observe(seconds(at - since));
    if (!usage) return;
    if (usage.llmCalls > 0) {
      this.llmCalls.at(planner, model).inc(usage.llmCalls);
      if (since !== undefined) this.llmDuration.at(planner, model).observe(seconds(at - since));
    }
    if (usage.inputTokens > 0) this.tokens.at(planner, model, 'input').inc(usage.inputTokens);
    if (usage.outputTokens > 0) this.tokens.at(planner, model, 'output').inc(usage.outputTokens);
  }

  /** The decision's model as a label value: '' when the planner names none, `other` past MAX_MODELS. */
  private modelLabel(model: string | undefined): string {
    if (model === undefined || this.models.has(model)) return model ?? '';
    if (this.models.size >= MAX_MODELS) return 'other';
    this.models.add(model);
    return model;
  }

  /** The task's entry, made the first time this process sees it: labelled at once when the kernel knows it. */
  private track(taskId: string): Tracked {
    const t = this.tracked.get(taskId);
    if (t) return t;
    const identity = this.deps.tasks.knownIdentity(taskId);
    const entry: Tracked = identity ? { labels: labelsOf(identity) } : {};
    if (!identity)
      entry.reading = this.read(taskId).then((labels) => {
        entry.labels = labels;
        entry.reading = undefined;
        return labels;
      });
    this.tracked.set(taskId, entry);
    return entry;
  }

  /** The labels of a task this process did not write, from one store read (null when it cannot be read). */
  private async read(taskId: string): Promise<TaskLabels | null> {
    try {
      return labelsOf(await this.deps.tasks.identity(taskId));
    } catch (error) {
      this.deps.logger.debug({ err: error, taskId }, 'metrics: task not readable; counted without its labels');
      return null;
    }
  }
}

function labelsOf(task: TaskIdentity): TaskLabels {
  return { agent: task.agent ?? '', planner: task.planner, createdAt: Date.parse(task.createdAt) };
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}
