import { expect } from 'chai';
import { services, type TaskService } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { Deployment } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';
import { until } from '../../helpers/until.js';

/** A tool that waits, as a model or a remote API does, until the test opens the gate; counts who waits at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const state = { waiting: 0, most: 0, open };
  const plugin = toolsPlugin('gate-tools', 'g', [
    {
      name: 'wait',
      description: 'waits until the gate opens',
      inputSchema: { type: 'object' },
      run: async () => {
        state.most = Math.max(state.most, ++state.waiting);
        await opened;
        state.waiting--;
        return 'through';
      },
    },
  ]);
  return { state, plugin };
}

async function submitWaiting(tasks: TaskService, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++)
    ids.push(
      (await tasks.submit({ goal: `wait ${i}`, input: { plan: [{ tool: 'g__wait', arguments: {} }] } })).task.id,
    );
  return ids;
}

async function allSucceeded(tasks: TaskService, ids: string[]): Promise<void> {
  await until('every task to finish', async () => {
    const done = await Promise.all(ids.map((id) => tasks.get(id)));
    return done.every((t) => t.status === 'succeeded') ? true : undefined;
  });
}

describe('task concurrency: how many tasks one worker runs at once', function () {
  let kernel: TestKernel | undefined;
  afterEach(async () => {
    await kernel?.stop();
    kernel = undefined;
  });

  it('runs 200 waiting tasks at once with no concurrency in the config (not capped at 16 or 32)', async () => {
    const { state, plugin } = gate();
    kernel = await startTestKernel({ plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: plugin }] });
    const tasks = kernel.get(services.taskService);
    const ids = await submitWaiting(tasks, 200);
    await until('200 tasks waiting at once', async () => (state.waiting === 200 ? true : undefined));
    state.open();
    await allSucceeded(tasks, ids);
  });

  it('keeps the default when the config names concurrency but leaves it undefined (an unset variable)', async () => {
    const { state, plugin } = gate();
    kernel = await startTestKernel({
      plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: plugin }],
      tasks: { concurrency: undefined },
    });
    const tasks = kernel.get(services.taskService);
    const ids = await submitWaiting(tasks, 50);
    await until('50 tasks waiting at once', async () => (state.waiting === 50 ? true : undefined));
    state.open();
    await allSucceeded(tasks, ids);
  });

  it('never runs more tasks at once than a configured concurrency, and still runs them all', async () => {
    const { state, plugin } = gate();
    kernel = await startTestKernel({
      plugins: [...EMBEDDED_MEMORY_PLUGINS, { use: plugin }],
      tasks: { concurrency: 3 },
    });
    const tasks = kernel.get(services.taskService);
    const ids = await submitWaiting(tasks, 10);
    await until('3 tasks waiting', async () => (state.waiting === 3 ? true : undefined));
    const queued = await Promise.all(ids.map((id) => tasks.get(id)));
    expect(queued.filter((t) => t.status === 'queued')).to.have.length(7);
    state.open();
    await allSucceeded(tasks, ids);
    expect(state.most).to.equal(3);
  });
});

describe('tasks.concurrency in the config', function () {
  let d: Deployment;
  beforeEach(() => (d = new Deployment()));
  afterEach(() => d.cleanup());

  it('refuses NaN from an unset environment variable in one line naming the field, the cause and the fix', async () => {
    d.config(`{ plugins: [], tasks: { concurrency: Number(process.env.OPSPAWN_TEST_UNSET_CONCURRENCY) } }`);
    const r = await d.run(['config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error '))).to.deep.equal([
      'error OPSPAWN_CONFIG_INVALID: tasks.concurrency: is NaN (not a number): a Number() of text that is no number, such as an unset or misspelt environment variable (fix: opspawn config set tasks.concurrency <value> (see docs/reference/config.md))',
    ]);
  });

  it('refuses 0 and more than 10,000, naming the bound', async () => {
    d.config(`{ plugins: [], tasks: { concurrency: 0 } }`);
    expect((await d.run(['config', 'check'])).stderr).to.contain(
      'error OPSPAWN_CONFIG_INVALID: tasks.concurrency: must be >= 1',
    );
    d.config(`{ plugins: [], tasks: { concurrency: 20000 } }`);
    expect((await d.run(['config', 'check'])).stderr).to.contain(
      'error OPSPAWN_CONFIG_INVALID: tasks.concurrency: must be <= 10000',
    );
  });
});
