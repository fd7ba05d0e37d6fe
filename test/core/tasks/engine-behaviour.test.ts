import { expect } from 'chai';
import {
  ErrorCodes,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type OpspawnError,
  type Task,
  type TaskEvent,
  type TaskService,
  type TaskStore,
} from '@opspawn/plugin-sdk';
import { MemoryTaskStore } from '@opspawn/store-memory';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';

let flakyCalls = 0;
const abortedSeen: string[] = [];

const testTools = toolsPlugin('test-tools', 't', [
  {
    name: 'add',
    description: 'adds',
    inputSchema: {
      type: 'object',
      required: ['a', 'b'],
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      additionalProperties: false,
    },
    run: ({ a, b }) => ({ sum: a + b }),
  },
  {
    name: 'boom',
    description: 'throws',
    inputSchema: { type: 'object' },
    run: () => {
      throw new Error('kaboom');
    },
  },
  {
    name: 'flaky',
    description: 'fails twice then works',
    inputSchema: { type: 'object' },
    run: () => {
      flakyCalls++;
      if (flakyCalls <= 2) throw new Error(`flake ${flakyCalls}`);
      return 'steady';
    },
  },
  {
    name: 'wait',
    description: 'waits until aborted',
    inputSchema: { type: 'object', properties: { tag: { type: 'string' } } },
    run: (args: { tag?: string }, ctx) =>
      new Promise((_, reject) => {
        ctx.signal.addEventListener(
          'abort',
          () => {
            abortedSeen.push(args.tag ?? '');
            reject(new Error('aborted'));
          },
          { once: true },
        );
      }),
  },
  { name: 'huge', description: 'too big', inputSchema: { type: 'object' }, run: () => 'x'.repeat(300_000) },
]);

/** A planner that answers with something that is not a decision. */
const garbagePlanner: InlinePlugin = {
  manifest: { id: 'planner-garbage', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, { create: () => ({ plan: async () => ({ kind: 'dance' }) as never }) });
    },
  }),
};

const plan = (...steps: unknown[]) => ({ plan: steps });

async function finalEvents(tasks: TaskService, id: string): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for await (const e of tasks.watch(id)) events.push(e);
  return events;
}

async function settle(tasks: TaskService, id: string): Promise<Task> {
  await finalEvents(tasks, id);
  return tasks.get(id);
}

/**
 * The in-memory store with only the methods every store must have, so the engine takes its fallbacks for the optional
 * ones (createWithEvent, transitionWithEvent(s), appendEvents): a third-party store may offer none of them.
 */
const requiredMethodsStore: InlinePlugin = {
  manifest: { id: 'store-required-methods', version: '1.0.0', kinds: ['store'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.store, {
        create: (): TaskStore => {
          const store = new MemoryTaskStore();
          return {
            create: (task) => store.create(task),
            get: (id) => store.get(id),
            list: (query) => store.list(query),
            transition: (id, from, change, expectAttempts) => store.transition(id, from, change, expectAttempts),
            requestCancel: (id) => store.requestCancel(id),
            appendEvent: (taskId, type, data) => store.appendEvent(taskId, type, data),
            events: (taskId, afterSeq, limit) => store.events(taskId, afterSeq, limit),
            findByStatus: (statuses, limit) => store.findByStatus(statuses, limit),
          };
        },
      });
    },
  }),
};

const STORES: Array<[string, string | { use: string | InlinePlugin; options?: Record<string, unknown> }]> = [
  ['store-memory', '@opspawn/store-memory'],
  ['store-sqlite', { use: '@opspawn/store-sqlite', options: { path: ':memory:' } }],
  ['a store with only the required methods', { use: requiredMethodsStore }],
];

for (const [storeName, store] of STORES)
  describe(`task engine on ${storeName}`, function () {
    let kernel: TestKernel;
    let tasks: TaskService;

    before(async () => {
      kernel = await startTestKernel({
        plugins: [store, ...EMBEDDED_MEMORY_PLUGINS.slice(1), { use: testTools }, { use: garbagePlanner }],
        planner: 'planner-scripted',
        tasks: { retryBackoffMs: 5, maxRetryBackoffMs: 20, concurrency: 8 },
      });
      tasks = kernel.get(services.taskService);
    });
    after(() => kernel.stop());

    it('runs a scripted plan through a tool and records every step in order', async () => {
      const { task } = await tasks.submit({ goal: 'add', input: plan({ tool: 't__add', arguments: { a: 2, b: 3 } }) });
      const events = await finalEvents(tasks, task.id);
      expect(events.map((e) => e.type)).to.deep.equal([
        'status',
        'status',
        'plan',
        'tool_call',
        'tool_result',
        'final',
        'status',
      ]);
      expect(events.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
      const done = await tasks.get(task.id);
      expect(done.status).to.equal('succeeded');
      expect(done.output).to.deep.equal({ sum: 5 });
      expect(done.attempts).to.equal(1);
    });

    it('returns the same task for a repeated idempotency key and refuses the key with another request', async () => {
      const request = {
        goal: 'once',
        input: plan({ tool: 't__add', arguments: { a: 1, b: 1 } }),
        idempotencyKey: 'same-key',
      };
      const first = await tasks.submit(request);
      const again = await tasks.submit(request);
      expect(first.created).to.equal(true);
      expect(again.created).to.equal(false);
      expect(again.task.id).to.equal(first.task.id);
      const error = await tasks.submit({ ...request, goal: 'twice' }).catch((e: OpspawnError) => e);
      expect((error as OpspawnError).code).to.equal(ErrorCodes.IDEMPOTENCY_CONFLICT);
    });

    it('retries a failing attempt with backoff until it succeeds', async () => {
      flakyCalls = 0;
      const { task } = await tasks.submit({ goal: 'flaky', input: plan({ tool: 't__flaky' }), maxAttempts: 3 });
      const done = await settle(tasks, task.id);
      expect(done.status).to.equal('succeeded');
      expect(done.attempts).to.equal(3);
      const events = await tasks.events(task.id);
      const requeued = events.filter(
        (e) => e.type === 'status' && e.data.status === 'queued' && e.data.retryInMs !== undefined,
      );
      expect(requeued).to.have.length(2);
    });

    it('fails after max attempts with the error of the last attempt', async () => {
      const { task } = await tasks.submit({ goal: 'boom', input: plan({ tool: 't__boom' }), maxAttempts: 2 });
      const done = await settle(tasks, task.id);
      expect(done.status).to.equal('failed');
      expect(done.attempts).to.equal(2);
      expect(done.error!.code).to.equal(ErrorCodes.PLANNER_FAILED);
      expect(done.error!.message).to.contain(
        "call 't__boom' failed: OPSPAWN_TOOL_FAILED: tool 't__boom' failed: kaboom",
      );
    });

    it("does not retry what fails the same way every time: an unknown tool, arguments the tool's schema refuses", async () => {
      for (const call of [{ tool: 't__nope' }, { tool: 't__add', arguments: { a: 'one' } }]) {
        const { task } = await tasks.submit({ goal: 'deterministic', input: plan(call), maxAttempts: 3 });
        const done = await settle(tasks, task.id);
        expect(done.status, call.tool).to.equal('failed');
        expect(done.attempts, `${call.tool} is tried once`).to.equal(1);
        expect(done.error!.code).to.equal(ErrorCodes.PLANNER_FAILED);
      }
    });

    it('gives arguments that fail the tool schema back as an observation naming the field', async () => {
      const { task } = await tasks.submit({
        goal: 'bad args',
        input: plan({ tool: 't__add', arguments: { a: 'one' }, onError: 'continue' }),
        maxAttempts: 1,
      });
      await settle(tasks, task.id);
      const result = (await tasks.events(task.id)).find((e) => e.type === 'tool_result')!;
      expect(result.data.ok).to.equal(false);
      expect((result.data.error as { code: string }).code).to.equal(ErrorCodes.TOOL_INVALID_ARGUMENTS);
      expect((result.data.error as { message: string }).message)
        .to.contain('arguments.a must be number')
        .and.contain('arguments.b is required');
    });

    it('refuses a tool result larger than the cap', async () => {
      const { task } = await tasks.submit({
        goal: 'huge',
        input: plan({ tool: 't__huge', onError: 'continue' }),
        maxAttempts: 1,
      });
      await settle(tasks, task.id);
      const result = (await tasks.events(task.id)).find((e) => e.type === 'tool_result')!;
      expect((result.data.error as { code: string }).code).to.equal(ErrorCodes.TOOL_RESULT_TOO_LARGE);
    });

    it('fails a task whose planner returns garbage with a clear code, leaving other tasks alone', async () => {
      const bad = await tasks.submit({ goal: 'garbage', planner: 'planner-garbage', maxAttempts: 1 });
      const good = await tasks.submit({ goal: 'fine', input: plan({ tool: 't__add', arguments: { a: 1, b: 2 } }) });
      const [badDone, goodDone] = await Promise.all([settle(tasks, bad.task.id), settle(tasks, good.task.id)]);
      expect(badDone.status).to.equal('failed');
      expect(badDone.error).to.deep.equal({
        code: ErrorCodes.PLANNER_INVALID_DECISION,
        message:
          "planner 'planner-garbage' returned an invalid decision: kind must be 'tools' or 'final', got \"dance\"",
      });
      expect(goodDone.status).to.equal('succeeded');
    });

    it('refuses bad requests with the field paths, an unknown planner and an unknown memory', async () => {
      const invalid = await tasks
        .submit({ goal: '', priority: 99, labels: { team: 7 } } as never)
        .catch((e: OpspawnError) => e);
      expect((invalid as OpspawnError).code).to.equal(ErrorCodes.TASK_INVALID);
      expect(((invalid as OpspawnError).details as Array<{ path: string }>).map((d) => d.path)).to.have.members([
        'goal',
        'priority',
        'labels.team',
      ]);
      const planner = await tasks.submit({ goal: 'x', planner: 'planner-nope' }).catch((e: OpspawnError) => e);
      expect((planner as OpspawnError).code).to.equal(ErrorCodes.PLANNER_UNKNOWN);
      const memory = await tasks
        .submit({ goal: 'x', memory: 'memory-nope', input: { plan: [], final: 1 } })
        .catch((e: OpspawnError) => e);
      expect((memory as OpspawnError).code).to.equal(ErrorCodes.MEMORY_UNKNOWN);
      const badPlan = await tasks.submit({ goal: 'x', input: { plan: [{ tool: 7 }] } }).catch((e: OpspawnError) => e);
      expect(String(badPlan)).to.contain('OPSPAWN_TASK_INVALID: input.plan[0].tool must be a non-empty string');
    });

    it('times out an attempt and aborts the running tool through its signal', async () => {
      const { task } = await tasks.submit({
        goal: 'slow',
        input: plan({ tool: 't__wait', arguments: { tag: 'timeout' } }),
        timeoutMs: 50,
        maxAttempts: 1,
      });
      const done = await settle(tasks, task.id);
      expect(done.status).to.equal('failed');
      expect(done.error!.code).to.equal(ErrorCodes.TASK_TIMEOUT);
      expect(abortedSeen).to.include('timeout');
    });

    it('cancels a running task: the tool sees the abort and the task ends cancelled', async () => {
      const { task } = await tasks.submit({
        goal: 'cancel me',
        input: plan({ tool: 't__wait', arguments: { tag: 'cancel' } }),
      });
      for await (const e of tasks.watch(task.id)) if (e.type === 'tool_call') break;
      await tasks.cancel(task.id);
      const done = await settle(tasks, task.id);
      expect(done.status).to.equal('cancelled');
      expect(done.error).to.deep.equal({ code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' });
      expect(abortedSeen).to.include('cancel');
      const again = await tasks.cancel(task.id).catch((e: OpspawnError) => e);
      expect((again as OpspawnError).code).to.equal(ErrorCodes.TASK_NOT_CANCELLABLE);
    });

    it('cancels a queued task at once and never runs it', async () => {
      const { task } = await tasks.submit({
        goal: 'later',
        input: plan({ tool: 't__add', arguments: { a: 1, b: 1 } }),
        notBefore: new Date(Date.now() + 60_000).toISOString(),
      });
      const cancelled = await tasks.cancel(task.id);
      expect(cancelled.status).to.equal('cancelled');
      expect(cancelled.attempts).to.equal(0);
      expect(cancelled.error).to.deep.equal({ code: ErrorCodes.TASK_CANCELLED, message: 'cancelled on request' });
      const last = (await tasks.events(task.id)).at(-1)!;
      expect(last.data).to.deep.include({ status: 'cancelled', error: cancelled.error });
    });

    it('lists newest first with status and label filters and cursor paging', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(
          (
            await tasks.submit({
              goal: `list ${i}`,
              input: { plan: [], final: i },
              labels: { suite: 'listing', parity: String(i % 2) },
            })
          ).task.id,
        );
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await tasks.list({ labels: { suite: 'listing' }, limit: 2, cursor });
        seen.push(...page.tasks.map((t) => t.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).to.deep.equal([...ids].reverse());
      const even = await tasks.list({ labels: { suite: 'listing', parity: '0' } });
      expect(even.tasks).to.have.length(3);
      const bad = await tasks.list({ cursor: 'not-a-cursor' }).catch((e: OpspawnError) => e);
      expect((bad as OpspawnError).code).to.equal(ErrorCodes.INVALID_REQUEST);
    });

    it('replays watch from a sequence number and then follows live events to the end', async () => {
      const { task } = await tasks.submit({
        goal: 'watch',
        input: plan(
          { tool: 't__add', arguments: { a: 1, b: 2 } },
          { tool: 't__add', arguments: { a: '{{ steps[0].output.sum }}', b: 10 } },
        ),
      });
      const all = await finalEvents(tasks, task.id);
      const tail: TaskEvent[] = [];
      for await (const e of tasks.watch(task.id, { afterSeq: 4 })) tail.push(e);
      expect(tail.map((e) => e.seq)).to.deep.equal(all.filter((e) => e.seq > 4).map((e) => e.seq));
      expect((await tasks.get(task.id)).output).to.deep.equal({ sum: 13 });
    });

    it('runs higher priority first when one task runs at a time', async () => {
      const k = await startTestKernel({
        plugins: [store, ...EMBEDDED_MEMORY_PLUGINS.slice(1), { use: testTools }],
        tasks: { concurrency: 1 },
      });
      const t = k.get(services.taskService);
      const notBefore = new Date(Date.now() + 150).toISOString();
      // Submitted together, released together: the priority decides the order.
      const low = await t.submit({ goal: 'low', input: { plan: [], final: 'low' }, priority: -5, notBefore });
      const high = await t.submit({ goal: 'high', input: { plan: [], final: 'high' }, priority: 5, notBefore });
      const [lowDone, highDone] = await Promise.all([settle(t, low.task.id), settle(t, high.task.id)]);
      expect(Date.parse(highDone.startedAt!)).to.be.at.most(Date.parse(lowDone.startedAt!));
      expect(Date.parse(lowDone.startedAt!)).to.be.at.least(Date.parse(notBefore) - 5);
      await k.stop();
    });
  });
