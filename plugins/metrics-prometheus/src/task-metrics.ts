import {
  BoundedMap,
  FINAL_STATUSES,
  type Broker,
  type EventBus,
  type Health,
  type HealthReport,
  type Logger,
  type PluginRegistry,
  type TaskService,
  type TaskStreamEvent,
  type TokenUsage,
} from '@opspawn/plugin-sdk';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

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
  labels: Promise<TaskLabels | undefined>;
  /** The labels once read (null: the task could not be read); until then, `labels` is waited for. */
  known?: TaskLabels | null;
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

  private readonly submitted = new Counter({
    name: 'opspawn_tasks_submitted_total',
    help: 'Tasks created in this process (submitted, or handed off to by another task), by agent',
    labelNames: ['agent'],
    registers: [this.registry],
  });
  private readonly transitions = new Counter({
    name: 'opspawn_task_status_changes_total',
    help: 'Status events appended in this process, by the status entered and agent',
    labelNames: ['status', 'agent'],
    registers: [this.registry],
  });
  private readonly finished = new Counter({
    name: 'opspawn_tasks_finished_total',
    help: 'Tasks that reached a final status in this process, by status and agent',
    labelNames: ['status', 'agent'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'opspawn_task_duration_seconds',
    help: 'From a task’s creation to its final status, by status and agent',
    labelNames: ['status', 'agent'],
    buckets: TASK_BUCKETS,
    registers: [this.registry],
  });
  private readonly attemptDuration = new Histogram({
    name: 'opspawn_task_attempt_duration_seconds',
    help: 'From an attempt’s running status to the status that ended it (final, or queued for a retry), by that status and agent',
    labelNames: ['status', 'agent'],
    buckets: TASK_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'opspawn_task_queue_wait_seconds',
    help: 'From a task’s queued status (its creation for a first attempt) to its running status, by agent',
    labelNames: ['agent'],
    buckets: TASK_BUCKETS,
    registers: [this.registry],
  });
  private readonly steps = new Counter({
    name: 'opspawn_task_steps_total',
    help: 'Planner decisions (plan and final events), by agent and planner',
    labelNames: ['agent', 'planner'],
    registers: [this.registry],
  });
  private readonly decision = new Histogram({
    name: 'opspawn_planner_decision_duration_seconds',
    help: 'From the event before a decision (the attempt’s start or the last tool result) to the decision, by planner',
    labelNames: ['planner'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  private readonly toolCalls = new Counter({
    name: 'opspawn_tool_calls_total',
    help: 'Tool calls that returned, by tool and outcome (ok, error)',
    labelNames: ['tool', 'outcome'],
    registers: [this.registry],
  });
  private readonly toolDuration = new Histogram({
    name: 'opspawn_tool_call_duration_seconds',
    help: 'Duration of tool calls as the tool registry measured it, by tool and outcome',
    labelNames: ['tool', 'outcome'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  private readonly llmCalls = new Counter({
    name: 'opspawn_llm_calls_total',
    help: 'LLM calls that reported token usage, by planner and model',
    labelNames: ['planner', 'model'],
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'opspawn_llm_tokens_total',
    help: 'Tokens the LLM calls used, by planner, model and direction (input, output)',
    labelNames: ['planner', 'model', 'direction'],
    registers: [this.registry],
  });
  private readonly llmDuration = new Histogram({
    name: 'opspawn_llm_call_duration_seconds',
    help: 'Planner decisions that called an LLM, from the event before the decision to the decision, by planner and model',
    labelNames: ['planner', 'model'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  private readonly models = new Set<string>();
  private readonly handoffs = new Counter({
    name: 'opspawn_handoffs_total',
    help: 'Child tasks an agent handed off to, by the agent called',
    labelNames: ['agent'],
    registers: [this.registry],
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
   * One event published here. Cheap on the task's path: a map lookup and a few counter increments; labels that
   * need the task (agent, planner) wait for its one store read, off the path. Event types and statuses it does
   * not know (added later) are counted by value where a metric takes any status, and otherwise ignored.
   */
  private observe(event: TaskStreamEvent): void {
    if (event.type === 'delta') return;
    // Events reach this listener as they are published, right after their write: the clock now is their time, and
    // reading it costs a tenth of parsing `event.at` (the listener's largest line in the tasks bench's profile).
    const at = Date.now();
    switch (event.type) {
      case 'status': {
        const { status, attempt } = event.data;
        const final = (FINAL_STATUSES as readonly string[]).includes(status);
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
        this.withLabels(t, (l) => {
          const agent = l?.agent ?? '';
          this.transitions.inc({ status, agent });
          if (status === 'queued' && attempt === 0) this.submitted.inc({ agent });
          if (status === 'running') {
            const since = queuedAt ?? (attempt === 1 ? l?.createdAt : undefined);
            if (since !== undefined) this.queueWait.observe({ agent }, seconds(at - since));
          } else if (runningAt !== undefined) {
            this.attemptDuration.observe({ status, agent }, seconds(at - runningAt));
          }
          if (final) {
            this.finished.inc({ status, agent });
            if (l) this.duration.observe({ status, agent }, seconds(at - l.createdAt));
          }
        });
        if (final) this.tracked.delete(event.taskId);
        return;
      }
      case 'plan':
      case 'final': {
        const t = this.track(event.taskId);
        const since = t.lastAt;
        t.lastAt = at;
        const { usage } = event.data;
        const model = this.modelLabel(event.data.model);
        this.withLabels(t, (l) => {
          const planner = l?.planner ?? '';
          this.steps.inc({ agent: l?.agent ?? '', planner });
          if (since !== undefined) this.decision.observe({ planner }, seconds(at - since));
          if (!usage) return;
          this.usage({ planner, model }, usage);
          if (since !== undefined && usage.llmCalls > 0)
            this.llmDuration.observe({ planner, model }, seconds(at - since));
        });
        return;
      }
      case 'tool_result': {
        const t = this.tracked.get(event.taskId);
        if (t) t.lastAt = at;
        const labels = { tool: event.data.tool, outcome: event.data.ok ? 'ok' : 'error' };
        this.toolCalls.inc(labels);
        this.toolDuration.observe(labels, event.data.durationMs / 1000);
        return;
      }
      case 'handoff':
        this.handoffs.inc({ agent: event.data.agent });
        return;
      default:
        // tool_call and log carry nothing counted here; a type added later is left alone until it is.
        return;
    }
  }

  private usage(labels: { planner: string; model: string }, usage: TokenUsage): void {
    if (usage.llmCalls > 0) this.llmCalls.inc(labels, usage.llmCalls);
    if (usage.inputTokens > 0) this.tokens.inc({ ...labels, direction: 'input' }, usage.inputTokens);
    if (usage.outputTokens > 0) this.tokens.inc({ ...labels, direction: 'output' }, usage.outputTokens);
  }

  /** The decision's model as a label value: '' when the planner names none, `other` past MAX_MODELS. */
  private modelLabel(model: string | undefined): string {
    if (model === undefined || this.models.has(model)) return model ?? '';
    if (this.models.size >= MAX_MODELS) return 'other';
    this.models.add(model);
    return model;
  }

  /** The task's entry, made (asking for its identity) the first time this process sees it. */
  private track(taskId: string): Tracked {
    const t = this.tracked.get(taskId);
    if (t) return t;
    const entry: Tracked = {
      labels: this.labelsOf(taskId).then((labels) => {
        entry.known = labels ?? null;
        return labels;
      }),
    };
    this.tracked.set(taskId, entry);
    return entry;
  }

  /** Runs `count` with the task's labels: at once when they are known, which is every event but a task's first. */
  private withLabels(t: Tracked, count: (labels: TaskLabels | undefined) => void): void {
    if (t.known !== undefined) count(t.known ?? undefined);
    else void t.labels.then(count);
  }

  private async labelsOf(taskId: string): Promise<TaskLabels | undefined> {
    try {
      const task = await this.deps.tasks.identity(taskId);
      return { agent: task.agent ?? '', planner: task.planner, createdAt: Date.parse(task.createdAt) };
    } catch (error) {
      this.deps.logger.debug({ err: error, taskId }, 'metrics: task not readable; counted without its labels');
      return undefined;
    }
  }
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}
