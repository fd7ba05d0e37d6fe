import { contractTest, providerIndex, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function brokerTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: 'An in-process job queue: priorities, delays, concurrency, redelivery and cancellation.',
    options: [
      {
        name: 'redeliveryDelayMs',
        schema: {
          type: 'integer',
          minimum: 0,
          default: 100,
          description: 'Wait before a job whose handler failed is delivered again',
        },
      },
    ],
    readme: `Queues task ids in process memory: the highest priority ready job goes first, delayed jobs wait, a job whose
handler fails comes back after \`redeliveryDelayMs\`, and \`cancel\` aborts the signal of the delivery running a task.
Replace \`src/list-broker.ts\` with your queue (Redis, SQS, ...): the broker contract suite in \`test/plugin.test.ts\`
checks the promises the task engine relies on.`,
    implementation: {
      file: 'list-broker.ts',
      source: `import type { Broker, DeliveryHandler, EnqueueOptions } from '@opspawn/plugin-sdk';

export interface ListBrokerOptions {
  /** Wait before a job whose handler failed is delivered again. */
  redeliveryDelayMs: number;
}

const MAX_TIMER_MS = 2_147_483_647;

interface Job {
  taskId: string;
  priority: number;
  /** Enqueue order: first in, first out within a priority. */
  order: number;
  readyAt: number;
}

/** Jobs in a list, delivered to this process's handler. Nothing survives a restart: the engine re-queues then. */
export class ListBroker implements Broker {
  readonly recoversOnStart = true;
  private readonly jobs: Job[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly inFlight = new Set<Promise<void>>();
  private handler?: DeliveryHandler;
  private concurrency = 1;
  private order = 0;
  private draining = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: ListBrokerOptions) {}

  async enqueue(taskId: string, options: EnqueueOptions): Promise<void> {
    this.jobs.push({ taskId, priority: options.priority, order: this.order++, readyAt: Date.now() + (options.delayMs ?? 0) });
    this.deliverReady();
  }

  async consume(handler: DeliveryHandler, options: { concurrency: number }): Promise<void> {
    this.handler = handler;
    this.concurrency = options.concurrency;
    this.draining = false;
    this.deliverReady();
  }

  async cancel(taskId: string): Promise<void> {
    this.running.get(taskId)?.abort(new Error(\`task \${taskId} was cancelled\`));
  }

  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    clearTimeout(this.timer);
    const finished = Promise.all(this.inFlight);
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(true), timeoutMs)));
    if (await Promise.race([finished.then(() => false), expired])) {
      // The handlers hand their tasks back; the task engine waits for that, not the broker.
      for (const controller of this.running.values()) controller.abort(new Error('the broker is draining'));
    }
    clearTimeout(timeout);
  }

  /** Starts the best ready jobs while there is room, and wakes up when the next delayed job is due. */
  private deliverReady(): void {
    clearTimeout(this.timer);
    if (!this.handler || this.draining) return;
    const now = Date.now();
    while (this.inFlight.size < this.concurrency) {
      const ready = this.jobs.filter((j) => j.readyAt <= now);
      if (ready.length === 0) break;
      const best = ready.reduce((a, b) => (b.priority > a.priority || (b.priority === a.priority && b.order < a.order) ? b : a));
      this.jobs.splice(this.jobs.indexOf(best), 1);
      this.deliver(best, this.handler);
    }
    const next = Math.min(...this.jobs.map((j) => j.readyAt));
    // Node's timers hold at most 2^31-1 ms (24.8 days): a job due later is waited for in steps of that size.
    if (Number.isFinite(next)) this.timer = setTimeout(() => this.deliverReady(), Math.min(MAX_TIMER_MS, Math.max(0, next - now)));
  }

  private deliver(job: Job, handler: DeliveryHandler): void {
    const controller = new AbortController();
    this.running.set(job.taskId, controller);
    const delivery = handler({ taskId: job.taskId, signal: controller.signal })
      .catch(() => {
        this.jobs.push({ ...job, order: this.order++, readyAt: Date.now() + this.options.redeliveryDelayMs });
      })
      .finally(() => {
        this.running.delete(job.taskId);
        this.inFlight.delete(delivery);
        this.deliverReady();
      });
    this.inFlight.add(delivery);
  }
}
`,
    },
    index: providerIndex({
      point: 'broker',
      className: 'ListBroker',
      module: 'list-broker',
      dispose:
        '// The task engine drains first, with its stop timeout; this only stops what is left.\n      dispose: (broker) => broker.drain(0)',
    }),
    test: contractTest(n, {
      kind: 'broker',
      suite: 'brokerContract',
      value: 'kernel.get(extensionPoints.broker)',
    }),
    testOptions: { redeliveryDelayMs: 10 },
  };
}
