import { expect } from 'chai';
import { services, type TaskService } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';
import { Deployment } from '../../helpers/deployment.js';

const settle = async (tasks: TaskService, id: string) => {
  for await (const _ of tasks.watch(id)) {
    // drained to the final event
  }
  return tasks.get(id);
};

describe('task retention', () => {
  let kernel: TestKernel;
  afterEach(() => kernel?.stop());

  it("deletes finished tasks beyond their status's count, newest kept, other statuses left alone", async () => {
    kernel = await startTestKernel({
      plugins: EMBEDDED_MEMORY_PLUGINS,
      tasks: { retention: { succeeded: { maxAgeMs: null, maxCount: 2 }, intervalMs: 1000 } },
    });
    const tasks = kernel.get(services.taskService);
    const succeeded: string[] = [];
    for (let i = 0; i < 5; i++)
      succeeded.push((await tasks.submit({ goal: `ok ${i}`, input: { plan: [], final: i } })).task.id);
    const failed = (await tasks.submit({ goal: 'fails', input: { plan: [{ tool: 'x__y' }] }, maxAttempts: 1 })).task;
    for (const id of [...succeeded, failed.id]) await settle(tasks, id);

    let left: string[] = [];
    for (let i = 0; i < 100; i++) {
      left = (await tasks.list({ status: ['succeeded'] })).tasks.map((t) => t.id);
      if (left.length <= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).to.deep.equal([succeeded[4], succeeded[3]]);
    expect(await tasks.get(failed.id)).to.deep.include({ status: 'failed' });
    const gone = await tasks.get(succeeded[0]!).then(
      () => undefined,
      (e: { code?: string }) => e.code,
    );
    expect(gone).to.equal('OPSPAWN_TASK_NOT_FOUND');
  });

  it('is refused at config check with the path of a bad limit', async () => {
    const d = new Deployment();
    try {
      d.config(`{ plugins: [], tasks: { retention: { failed: { maxCount: -1 }, every: 5 } } }`);
      const r = await d.run(['config', 'check']);
      expect(r.code).to.equal(3);
      expect(r.stderr).to.contain('tasks.retention.failed.maxCount');
      expect(r.stderr).to.contain('every');
    } finally {
      d.cleanup();
    }
  });
});
