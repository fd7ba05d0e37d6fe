import { expect } from 'chai';
import {
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type PlanRequest,
  type TaskDelta,
  type TaskEvent,
  type TaskStreamEvent,
} from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';

/** Pending characters that publish at once (docs/reference/task-model.md, Deltas). */
const DELTA_FLUSH_CHARS = 4096;

/**
 * A planner that streams what the test tells it to: `fragments` of text, synchronously, then waits for `release`
 * and answers `final`. It keeps each step's `onDelta`, so a test can call one after its step ended.
 */
class StreamingPlanner {
  fragments: string[] = [];
  release: Promise<unknown> = Promise.resolve();
  readonly callbacks: Array<NonNullable<PlanRequest['onDelta']>> = [];

  async plan(request: PlanRequest) {
    if (request.onDelta) this.callbacks.push(request.onDelta);
    for (const text of this.fragments) request.onDelta?.({ kind: 'text', text });
    await this.release;
    // A callback of an earlier step, called now: that step's decision is stored, so it must not show.
    if (this.callbacks.length > 1) this.callbacks[0]!({ kind: 'text', text: 'LATE' });
    return request.step === 1 && this.fragments.length > 0 && this.fragments[0] === 'two steps'
      ? { kind: 'tools' as const, calls: [{ id: 'c1', tool: 'nothing__here', arguments: {} }] }
      : { kind: 'final' as const, output: this.fragments.join('') };
  }
}

const planner = new StreamingPlanner();
const streamingPlanner: InlinePlugin = {
  manifest: { id: 'planner-streaming', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, { create: () => planner });
    },
  }),
};

describe('transient deltas between the stored events', function () {
  let kernel: TestKernel;

  before(async () => {
    kernel = await startTestKernel({
      plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', { use: streamingPlanner }],
      planner: 'planner-streaming',
    });
  });
  after(() => kernel.stop());

  /** Runs a task while watching it both ways; the planner answers once the live watcher is subscribed. */
  async function run(fragments: string[]): Promise<{ live: TaskStreamEvent[]; plain: TaskEvent[] }> {
    const tasks = kernel.get(services.taskService);
    let release!: () => void;
    planner.fragments = fragments;
    planner.release = new Promise<void>((r) => (release = r));
    planner.callbacks.length = 0;
    const { task } = await tasks.submit({ goal: 'stream', maxAttempts: 1 });
    const live: TaskStreamEvent[] = [];
    const plain: TaskEvent[] = [];
    const plainDone = (async () => {
      for await (const e of tasks.watch(task.id)) plain.push(e);
    })();
    for await (const e of tasks.watchLive(task.id)) {
      live.push(e);
      if (e.type === 'status' && e.data.status === 'running') release();
    }
    await plainDone;
    return { live, plain };
  }

  const deltasOf = (events: TaskStreamEvent[]) => events.filter((e): e is TaskDelta => e.type === 'delta');

  it('merges the fragments of one step into few deltas, published before the decision that holds them', async () => {
    // Pushed in one turn of the event loop, before any flush can run: exactly one delta.
    const { live, plain } = await run(Array.from({ length: 100 }, (_, i) => String(i % 10)));
    const deltas = deltasOf(live);
    expect(deltas).to.have.length(1);
    expect(deltas[0]!.data).to.deep.equal({ step: 1, kind: 'text', text: '0123456789'.repeat(10) });
    expect(live.map((e) => e.type)).to.deep.equal(['status', 'status', 'delta', 'final', 'status']);
    expect(
      plain.map((e) => e.type),
      'watch() yields stored events only',
    ).to.deep.equal(['status', 'status', 'final', 'status']);
  });

  it(`publishes at once when ${DELTA_FLUSH_CHARS} characters are pending, so one message stays small`, async () => {
    const { live } = await run(Array.from({ length: DELTA_FLUSH_CHARS + 904 }, () => 'x'));
    const deltas = deltasOf(live);
    expect(deltas.map((d) => (d.data.kind === 'text' ? d.data.text.length : 0))).to.deep.equal([
      DELTA_FLUSH_CHARS,
      904,
    ]);
    expect(deltas.map((d) => [d.afterSeq, d.index])).to.deep.equal([
      [2, 0],
      [2, 1],
    ]);
  });

  it("ignores a planner that calls an earlier step's onDelta after that step's decision was stored", async () => {
    const { live } = await run(['two steps', ' and more']);
    const deltas = deltasOf(live);
    expect(deltas.map((d) => d.data)).to.deep.equal([
      { step: 1, kind: 'text', text: 'two steps and more' },
      { step: 2, kind: 'text', text: 'two steps and more' },
    ]);
    expect(live.some((e) => e.type === 'delta' && e.data.kind === 'text' && e.data.text.includes('LATE'))).to.equal(
      false,
    );
    const toolResult = live.find((e) => e.type === 'tool_result') as TaskEvent;
    expect(deltas[1]!.afterSeq, 'step 2 follows the stored events of step 1').to.equal(toolResult.seq);
  });
});

describe('the event bus says whether anyone may watch a task', () => {
  it('only while a watcher of that task, or of every task, listens (in a process without a relay)', async () => {
    const kernel = await startTestKernel({ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory'] });
    try {
      const bus = kernel.get(services.eventBus);
      expect(bus.mayWatch('task_a')).to.equal(false);
      const off = bus.subscribe('task_a', () => undefined);
      expect([bus.mayWatch('task_a'), bus.mayWatch('task_b')]).to.deep.equal([true, false]);
      off();
      expect(bus.mayWatch('task_a')).to.equal(false);
      const offAll = bus.subscribe('*', () => undefined);
      expect(bus.mayWatch('task_b')).to.equal(true);
      offAll();
    } finally {
      await kernel.stop();
    }
  });
});
