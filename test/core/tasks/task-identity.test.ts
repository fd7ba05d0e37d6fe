import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ErrorCodes, extensionPoints, newTaskId, services } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { embeddedSqlitePlugins } from '../../helpers/inline-plugins.js';

/**
 * `TaskService.identity`: the fields of a task that never change, which a consumer of every event (the metrics
 * plugin) asks for instead of reading each task back. The kernel knows the tasks it wrote; one written to the store
 * by someone else (another process of the deployment) is read from the store.
 */
describe('task identity', function () {
  this.timeout(30_000);
  let dir: string;
  let kernel: TestKernel;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'opspawn-identity-'));
    kernel = await startTestKernel({
      plugins: [...embeddedSqlitePlugins(join(dir, 'tasks.db'))],
    });
  });

  after(async () => {
    await kernel?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the fields that never change of a task this process submitted', async () => {
    const tasks = kernel.get(services.taskService);
    const { task } = await tasks.submit({ goal: 'identity', input: { plan: [], final: 'ok' }, sessionId: 's-1' });
    expect(await tasks.identity(task.id)).to.deep.equal({
      id: task.id,
      planner: 'planner-scripted',
      memory: 'memory-buffer',
      sessionId: 's-1',
      createdAt: task.createdAt,
    });
    expect(tasks.knownIdentity(task.id), 'remembered: no read needed').to.deep.equal(await tasks.identity(task.id));
  });

  it('reads a task another process wrote from the store, with its agent and parent', async () => {
    const tasks = kernel.get(services.taskService);
    const { task: parent } = await tasks.submit({ goal: 'parent', input: { plan: [], final: 'ok' } });
    const id = newTaskId();
    const now = new Date().toISOString();
    await kernel.get(extensionPoints.store).create({
      ...parent,
      id,
      sessionId: id,
      agent: 'elsewhere',
      parentId: parent.id,
      status: 'succeeded',
      createdAt: now,
      updatedAt: now,
    });
    expect(tasks.knownIdentity(id), 'not remembered before it is read').to.equal(undefined);
    expect(await tasks.identity(id)).to.deep.equal({
      id,
      planner: 'planner-scripted',
      memory: 'memory-buffer',
      sessionId: id,
      createdAt: now,
      agent: 'elsewhere',
      parentId: parent.id,
    });
    expect(tasks.knownIdentity(id), 'remembered once read').to.have.property('agent', 'elsewhere');
  });

  it('refuses an unknown id with TASK_NOT_FOUND, as get does', async () => {
    const error = await kernel
      .get(services.taskService)
      .identity('task_01M8PQR9KKH8PJ9GD46FZVNDXX')
      .catch((e: unknown) => e);
    expect(error).to.have.property('code', ErrorCodes.TASK_NOT_FOUND);
  });
});
