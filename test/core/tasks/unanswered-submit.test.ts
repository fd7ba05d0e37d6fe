import { expect } from 'chai';
import {
  ErrorCodes,
  OpspawnError,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type Task,
} from '@opspawn/plugin-sdk';
import { MemoryTaskStore } from '@opspawn/store-memory';
import { startTestKernel, type TestKernel } from '@opspawn/testing';

/**
 * The real in-memory store, with the fault of a database whose connection broke after it committed an insert: the
 * first write lands, and its caller hears only that the store is unavailable.
 */
class LosesFirstReplyStore extends MemoryTaskStore {
  private lost = false;
  override async create(task: Task): Promise<{ task: Task; created: boolean }> {
    const result = await super.create(task);
    if (this.lost) return result;
    this.lost = true;
    throw new OpspawnError(ErrorCodes.STORE_UNAVAILABLE, 'Connection terminated unexpectedly');
  }
}

const lossyStore: InlinePlugin = {
  manifest: { id: 'store-lossy', version: '1.0.0', kinds: ['store'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.store, { create: () => new LosesFirstReplyStore() });
    },
  }),
};

describe('a submission whose store write was answered with an outage', () => {
  let kernel: TestKernel;
  after(() => kernel?.stop());

  it('is refused to the client, yet a task that was stored runs at once instead of waiting for the sweep', async () => {
    kernel = await startTestKernel({
      plugins: [{ use: lossyStore }, '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'],
    });
    const tasks = kernel.get(services.taskService);
    const refused = await tasks.submit({ goal: 'landed anyway', input: { plan: [], final: 'ran' } }).then(
      () => undefined,
      (e: OpspawnError) => e.code,
    );
    expect(refused).to.equal(ErrorCodes.STORE_UNAVAILABLE);

    let stored: Task | undefined;
    for (let i = 0; i < 100 && stored?.status !== 'succeeded'; i++) {
      stored = (await tasks.list({})).tasks.find((t) => t.goal === 'landed anyway');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(stored).to.deep.include({ status: 'succeeded', output: 'ran' });
  });
});
