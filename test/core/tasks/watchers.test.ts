import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { extensionPoints, services, type TaskService } from '@opspawn/plugin-sdk';
import { SqliteTaskStore } from '@opspawn/store-sqlite';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS, embeddedSqlitePlugins, toolsPlugin } from '../../helpers/inline-plugins.js';
import { until } from '../../helpers/until.js';
import { loadGrpcService } from '../../helpers/grpc-service.js';

let open!: () => void;
let opened: Promise<void>;
const tools = toolsPlugin('watch-tools', 'w', [
  { name: 'gate', description: 'waits for the test', inputSchema: { type: 'object' }, run: () => opened },
  { name: 'say', description: 'echoes', inputSchema: { type: 'object' }, run: (args) => args },
]);

/** The seqs of the stored events an SSE stream delivers, to its end. */
async function sseSeqs(rest: string, id: string, signal?: AbortSignal): Promise<number[]> {
  const response = await fetch(`${rest}/v1/tasks/${id}/events`, { headers: { accept: 'text/event-stream' }, signal });
  const text = await response.text();
  return [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
}

function watchSeqs(client: any, id: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const seqs: number[] = [];
    const call = client.Watch({ id });
    call.on('data', (e: { seq: number }) => seqs.push(e.seq));
    call.on('end', () => resolve(seqs));
    call.on('error', reject);
  });
}

describe('live watchers', function () {
  let kernel: TestKernel;
  let tasks: TaskService;
  let rest: string;
  let client: any;

  beforeEach(async () => {
    opened = new Promise((resolve) => (open = resolve));
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: tools },
        { use: '@opspawn/transport-rest', options: { port: 0 } },
        { use: '@opspawn/transport-grpc', options: { port: 0 } },
      ],
    });
    tasks = kernel.get(services.taskService);
    const [restTransport, grpcTransport] = kernel.get(extensionPoints.transport);
    rest = restTransport!.value.addresses()[0]!;
    const Service = loadGrpcService('tasks', 'TaskService');
    client = new Service(grpcTransport!.value.addresses()[0]!, grpc.credentials.createInsecure());
  });
  afterEach(async () => {
    open();
    client.close();
    await kernel.stop();
  });

  const gatedTask = async (steps = 0) =>
    (
      await tasks.submit({
        goal: 'watched',
        input: {
          plan: [
            { tool: 'w__gate', arguments: {} },
            ...Array.from({ length: steps }, (_, i) => ({ tool: 'w__say', arguments: { i } })),
          ],
        },
      })
    ).task.id;

  it('gives 30 SSE and 30 gRPC watchers of one task every event, in order, the same as the store holds', async () => {
    const id = await gatedTask(5);
    const streams = [
      ...Array.from({ length: 30 }, () => sseSeqs(rest, id)),
      ...Array.from({ length: 30 }, () => watchSeqs(client, id)),
    ];
    const bus = kernel.get(services.eventBus);
    await until('the watchers to subscribe', async () => (bus.mayWatch(id) ? true : undefined));
    open();
    const seen = await Promise.all(streams);
    const stored = (await tasks.events(id)).map((e) => e.seq);
    expect(stored.length).to.be.greaterThan(10);
    for (const seqs of seen) expect(seqs).to.deep.equal(stored);
  });

  it('frees the subscription of an SSE watcher that disconnects while its task runs', async () => {
    const id = await gatedTask();
    const bus = kernel.get(services.eventBus);
    const controller = new AbortController();
    const stream = sseSeqs(rest, id, controller.signal).catch(() => []);
    await until('the SSE watcher to subscribe', async () => (bus.mayWatch(id) ? true : undefined));
    controller.abort();
    await stream;
    await until('the subscription to go', async () => (bus.mayWatch(id) ? undefined : true));
    expect((await tasks.get(id)).status).to.equal('running');
  });

  it('frees the subscription of a gRPC Watch that the client cancels while its task runs', async () => {
    const id = await gatedTask();
    const bus = kernel.get(services.eventBus);
    const call = client.Watch({ id });
    call.on('data', () => undefined);
    const ended = new Promise((resolve) => call.on('error', resolve));
    await until('the Watch to subscribe', async () => (bus.mayWatch(id) ? true : undefined));
    call.cancel();
    expect(((await ended) as { code: number }).code).to.equal(grpc.status.CANCELLED);
    await until('the subscription to go', async () => (bus.mayWatch(id) ? undefined : true));
    expect((await tasks.get(id)).status).to.equal('running');
  });
});

describe('a live watcher on an embedded host (store-sqlite)', function () {
  this.timeout(20_000);
  let dir: string;
  let kernel: TestKernel;

  beforeEach(async () => {
    opened = new Promise((resolve) => (open = resolve));
    dir = mkdtempSync(join(tmpdir(), 'opspawn-watch-'));
    kernel = await startTestKernel({
      plugins: [...embeddedSqlitePlugins(join(dir, 'tasks.db')), { use: tools }],
    });
  });
  afterEach(async () => {
    open();
    await kernel.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('re-reads the store only once another process wrote to the file, and then sees what it wrote', async () => {
    const tasks = kernel.get(services.taskService);
    const store = kernel.get(extensionPoints.store);
    const { task } = await tasks.submit({ goal: 'waits', input: { plan: [{ tool: 'w__gate', arguments: {} }] } });
    const reads: number[] = [];
    const read = store.events.bind(store);
    store.events = (taskId, afterSeq, limit) => {
      if (taskId === task.id) reads.push(afterSeq);
      return read(taskId, afterSeq, limit);
    };
    const seen: Array<{ type: string; data: unknown }> = [];
    const watched = (async () => {
      for await (const event of tasks.watch(task.id)) seen.push({ type: event.type, data: event.data });
    })();
    await until('the task to run and the watcher to catch up', async () =>
      seen.some((e) => e.type === 'tool_call') ? true : undefined,
    );
    // Longer than the watcher's 2 s poll: with nobody else writing, everything new came through the bus.
    await new Promise((r) => setTimeout(r, 2600));
    expect(reads, 'one read, when the watch began').to.have.length(1);

    const elsewhere = SqliteTaskStore.open({ path: join(dir, 'tasks.db'), busyTimeoutMs: 2000 });
    try {
      await elsewhere.appendEvent(task.id, 'log', { level: 'info', message: 'from another process' });
    } finally {
      elsewhere.close();
    }
    await until("the watcher to see the other process's event", async () =>
      seen.some((e) => e.type === 'log') ? true : undefined,
    );
    expect(reads.length, 'read again after the other process wrote').to.equal(2);
    open();
    await watched;
    expect(seen.at(-1)).to.deep.include({ type: 'status' });
    expect(seen.map((e) => e.type)).to.include.members(['final', 'log']);
  });
});
