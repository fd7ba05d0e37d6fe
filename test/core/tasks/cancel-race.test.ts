import { expect } from 'chai';
import {
  ErrorCodes,
  definePlugin,
  extensionPoints,
  isFinalStatus,
  services,
  type InlinePlugin,
  type OpspawnError,
  type Task,
} from '@opspawn/plugin-sdk';
import { MemoryTaskStore } from '@opspawn/store-memory';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { toolsPlugin } from '../../helpers/inline-plugins.js';

/**
 * The real in-memory store, with one pause injected where the race happens: between the task service reading a
 * running task and asking the store to mark it for cancellation, the task finishes.
 */
class FinishesBeforeCancelStore extends MemoryTaskStore {
  override async requestCancel(id: string): Promise<Task | undefined> {
    while (!isFinalStatus((await this.get(id))!.status)) await new Promise((r) => setTimeout(r, 5));
    return super.requestCancel(id);
  }
}

const racingStore: InlinePlugin = {
  manifest: { id: 'store-racing', version: '1.0.0', kinds: ['store'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.store, { create: () => new FinishesBeforeCancelStore() });
    },
  }),
};

const slowTools = toolsPlugin('slow-tools', 's', [
  {
    name: 'pause',
    description: 'waits 100 ms',
    inputSchema: { type: 'object' },
    run: () => new Promise((r) => setTimeout(() => r('done'), 100)),
  },
]);

describe('cancelling a task that finishes at the same moment', () => {
  let kernel: TestKernel;
  after(() => kernel?.stop());

  it('answers 409 with the final status, not a success naming a task that was never cancelled', async () => {
    kernel = await startTestKernel({
      plugins: [
        { use: racingStore },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        { use: slowTools },
      ],
    });
    const tasks = kernel.get(services.taskService);
    const { task } = await tasks.submit({ goal: 'race', input: { plan: [{ tool: 's__pause' }] } });
    for await (const event of tasks.watch(task.id)) if (event.type === 'tool_call') break;

    const answer = await tasks.cancel(task.id).then(
      (t) => ({ status: t.status, cancelRequested: t.cancelRequested }),
      (e: OpspawnError) => ({ code: e.code, message: e.message }),
    );
    expect(answer).to.deep.equal({
      code: ErrorCodes.TASK_NOT_CANCELLABLE,
      message: `task ${task.id} is already succeeded`,
    });
  });
});
