import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { RestClient } from '@opspawn/core';
import type { Task, TaskEvent } from '@opspawn/plugin-sdk';
import { Deployment } from '../../helpers/deployment.js';
import { until } from '../../helpers/until.js';

describe('handoffs across a crash (embedded host, SQLite)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let host: ChildProcess | undefined;

  before(() => {
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-scripted', 'transport-rest'])
      d.linkBuiltIn(id);
    d.plugin({
      id: 'slow-tools',
      kinds: ['tool-provider'],
      register: `
      env.provide(sdk.extensionPoints.toolProvider, { create: () => ({
        namespace: 'slow',
        list: async () => [{ name: 'wait', description: 'waits', inputSchema: { type: 'object' } }],
        call: (name, args, ctx) => new Promise((resolve, reject) => {
          const t = setTimeout(() => resolve({ output: 'waited ' + args.ms }), args.ms);
          ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
        }),
      }) });`,
    });
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './data/tasks.db' } }, '@opspawn/broker-memory',
        '@opspawn/memory-buffer', '@opspawn/planner-scripted', './plugins/slow-tools',
        { use: '@opspawn/transport-rest', options: { port: 0 } }],
      agents: { boss: { tools: ['agents__helper'] }, helper: { tools: ['slow__wait'] } },
      tasks: { concurrency: 1 },
      log: { level: 'warn' },
    }`);
  });
  after(() => {
    host?.kill('SIGKILL');
    d.cleanup();
  });

  it('finds the child again when the recovered parent makes the same call, and starts no second one', async () => {
    const first = await d.start();
    host = first.host;
    const api = new RestClient({ url: first.url });
    const parent = await api.submit({
      goal: 'wait through a helper',
      agent: 'boss',
      input: {
        plan: [
          {
            tool: 'agents__helper',
            arguments: { goal: 'wait', input: { plan: [{ tool: 'slow__wait', arguments: { ms: 2000 } }] } },
          },
        ],
      },
    });
    const child = await until('the child to run', async () => {
      const [c] = (await api.list({ parentId: parent.id, status: ['running'] })).tasks;
      return c;
    });
    host.kill('SIGKILL');
    await new Promise((r) => host!.once('exit', r));

    const again = await d.start();
    host = again.host;
    const api2 = new RestClient({ url: again.url });
    const done = await until('the parent to finish', async () => {
      const t = await api2.get(parent.id);
      return ['succeeded', 'failed', 'cancelled'].includes(t.status) ? t : undefined;
    });
    expect(done.status, JSON.stringify(done.error)).to.equal('succeeded');
    expect(done.output).to.equal('waited 2000');
    const children: Task[] = (await api2.list({ parentId: parent.id })).tasks;
    expect(children.map((c) => c.id)).to.deep.equal([child.id]);
    expect(children[0]).to.include({ status: 'succeeded', attempts: 2 });
    const events = (await (await fetch(`${again.url}/v1/tasks/${parent.id}/events`)).json()) as { events: TaskEvent[] };
    const handoffs = events.events.filter((e) => e.type === 'handoff').map((e) => e.data);
    expect(handoffs).to.deep.equal([
      { step: 1, callId: 's1c0', childId: child.id, agent: 'helper', created: true },
      { step: 1, callId: 's1c0', childId: child.id, agent: 'helper', created: false },
    ]);
  });
});
