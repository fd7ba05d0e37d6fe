import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { extensionPoints, type TaskDelta, type TaskEvent } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { Cluster } from '../helpers/cluster.js';
import { CLI, Deployment, REPO } from '../helpers/deployment.js';
import { toolsPlugin } from '../helpers/inline-plugins.js';
import { requireService } from '../helpers/services.js';
import { ChatServer, completion } from '../plugins/planner-openai/chat-server.js';
import { loadGrpcService } from '../helpers/grpc-service.js';

/** A promise the test opens when something has happened. */
class Gate {
  open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
}

interface Frame {
  id?: string;
  event: string;
  data: any;
}

/** Reads a task's server-sent events as any client would, calling `onFrame` with each as it arrives. */
async function readSse(url: string, onFrame: (frame: Frame) => void = () => undefined): Promise<Frame[]> {
  const response = await fetch(url, { headers: { accept: 'text/event-stream' } });
  expect(response.status).to.equal(200);
  const frames: Frame[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2);
      const data = field('data');
      if (data === undefined) continue; // a comment or heartbeat
      const frame: Frame = {
        event: field('event')!,
        data: JSON.parse(data),
        ...(field('id') ? { id: field('id') } : {}),
      };
      frames.push(frame);
      onFrame(frame);
    }
  }
  return frames;
}

const textOf = (deltas: Array<Pick<TaskDelta, 'data'>>): string =>
  deltas.map((d) => (d.data.kind === 'text' ? d.data.text : '')).join('');

const ANSWER = 'Otters hold hands while they sleep, so that they do not drift apart.';

/** A gRPC client built from the .proto files at run time, as any gRPC user would. */
function grpcClient(address: string) {
  const TaskService = loadGrpcService('tasks', 'TaskService');
  return new TaskService(address, grpc.credentials.createInsecure());
}

describe('streamed output: deltas reach watchers live, and are never stored', function () {
  this.timeout(60_000);
  const server = new ChatServer();
  const dir = mkdtempSync(join(tmpdir(), 'opspawn-stream-'));
  const received: unknown[] = [];
  let kernel: TestKernel;
  let base: string;
  let grpcAddress: string;

  before(async () => {
    await server.start();
    kernel = await startTestKernel({
      plugins: [
        { use: '@opspawn/store-sqlite', options: { path: join(dir, 'tasks.db') } },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        { use: '@opspawn/planner-openai', options: { baseURL: server.url, model: 'test-model', maxRetries: 0 } },
        {
          use: toolsPlugin('t', 't', [
            {
              name: 'add',
              description: 'adds',
              inputSchema: { type: 'object', required: ['a', 'b'] },
              run: (args) => {
                received.push(args);
                return { sum: args.a + args.b };
              },
            },
          ]),
        },
        { use: '@opspawn/transport-rest', options: { port: 0 } },
        { use: '@opspawn/transport-grpc', options: { port: 0 } },
      ],
      planner: 'planner-openai',
    });
    const [rest, rpc] = kernel.get(extensionPoints.transport).map((t) => t.value.addresses()[0]!);
    base = rest!;
    grpcAddress = rpc!;
  });
  after(async () => {
    await kernel?.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const submit = async (goal: string): Promise<string> => {
    const response = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ goal }),
    });
    expect(response.status).to.equal(202);
    return ((await response.json()) as { id: string }).id;
  };
  const storedEvents = async (id: string): Promise<TaskEvent[]> =>
    ((await (await fetch(`${base}/v1/tasks/${id}/events?limit=1000`)).json()) as { events: TaskEvent[] }).events;

  it('over SSE: the text arrives as delta events before the task ends, without ids; the store keeps the decision only', async () => {
    // The model starts once the watcher listens, and holds its last piece until the watcher has seen a delta: the
    // task cannot end before a delta crossed the transport.
    const listening = new Gate();
    const firstDelta = new Gate();
    server.script({ body: completion({ content: ANSWER }), holdFirst: listening.opened, holdLast: firstDelta.opened });
    const id = await submit('tell me about otters');
    const frames = await readSse(`${base}/v1/tasks/${id}/events`, (frame) => {
      listening.open();
      if (frame.event === 'delta') firstDelta.open();
    });
    const deltas = frames.filter((f) => f.event === 'delta');
    expect(deltas.length, 'several deltas').to.be.greaterThan(0);
    expect(
      deltas.every((f) => f.id === undefined),
      'no id: Last-Event-ID resumes on stored events',
    ).to.equal(true);
    expect(
      frames.findIndex((f) => f.event === 'delta'),
      'a delta before the final answer',
    ).to.be.lessThan(frames.findIndex((f) => f.event === 'final'));
    const running = frames.find((f) => f.event === 'status' && f.data.data.status === 'running')!;
    expect(deltas.map((f) => [f.data.transient, f.data.afterSeq, f.data.index, f.data.data.step])).to.deep.equal(
      deltas.map((_, i) => [true, running.data.seq, i, 1]),
    );
    expect(textOf(deltas.map((f) => f.data))).to.equal(ANSWER);
    const task = (await (await fetch(`${base}/v1/tasks/${id}`)).json()) as { output: string; status: string };
    expect(task.status).to.equal('succeeded');
    expect(task.output).to.equal(ANSWER);
    const stored = await storedEvents(id);
    expect(stored.map((e) => e.type)).to.deep.equal(['status', 'status', 'final', 'status']);
    expect(stored.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4]);
    const replay = await readSse(`${base}/v1/tasks/${id}/events`);
    expect(
      replay.map((f) => f.event),
      'a replay has the stored events only',
    ).to.deep.equal(['status', 'status', 'final', 'status']);
  });

  it('over SSE with deltas=false: only the stored events, while another watcher gets the deltas', async () => {
    const listening = new Gate();
    const firstDelta = new Gate();
    server.script({ body: completion({ content: ANSWER }), holdFirst: listening.opened, holdLast: firstDelta.opened });
    const id = await submit('tell me about otters, quietly');
    const without = readSse(`${base}/v1/tasks/${id}/events?deltas=false`);
    const withDeltas = await readSse(`${base}/v1/tasks/${id}/events`, (frame) => {
      listening.open();
      if (frame.event === 'delta') firstDelta.open();
    });
    expect(textOf(withDeltas.filter((f) => f.event === 'delta').map((f) => f.data))).to.equal(ANSWER);
    expect((await without).map((f) => f.event)).to.deep.equal(['status', 'status', 'final', 'status']);
    const refused = await fetch(`${base}/v1/tasks/${id}/events?deltas=maybe`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(refused.status).to.equal(400);
    expect(((await refused.json()) as { code: string }).code).to.equal('OPSPAWN_INVALID_REQUEST');
  });

  it('over gRPC Watch: delta messages (transient, seq 0) before the task ends; no_deltas leaves them out', async () => {
    const listening = new Gate();
    const firstDelta = new Gate();
    server.script({ body: completion({ content: ANSWER }), holdFirst: listening.opened, holdLast: firstDelta.opened });
    const id = await submit('tell me about otters over gRPC');
    const client = grpcClient(grpcAddress);
    const watch = (request: object, onEvent: (e: any) => void = () => undefined) =>
      new Promise<any[]>((resolve, reject) => {
        const events: any[] = [];
        const stream = client.Watch(request);
        stream.on('data', (e: any) => {
          events.push(e);
          onEvent(e);
        });
        stream.on('end', () => resolve(events));
        stream.on('error', reject);
      });
    const quiet = watch({ id, noDeltas: true });
    const events = await watch({ id }, (e) => {
      listening.open();
      if (e.type === 'delta') firstDelta.open();
    });
    client.close();
    const deltas = events.filter((e) => e.type === 'delta');
    expect(deltas.length).to.be.greaterThan(0);
    expect(events.findIndex((e) => e.type === 'delta')).to.be.lessThan(events.findIndex((e) => e.type === 'final'));
    expect(deltas.every((e) => e.transient === true && e.seq === 0 && e.afterSeq === 2)).to.equal(true);
    expect(deltas.map((e) => e.index)).to.deep.equal(deltas.map((_, i) => i));
    expect(textOf(deltas.map((e) => ({ data: JSON.parse(e.dataJson) })))).to.equal(ANSWER);
    expect((await quiet).map((e) => e.type)).to.deep.equal(['status', 'status', 'final', 'status']);
  });

  it('streams tool-call arguments too, and the tool receives the call assembled from them', async () => {
    const listening = new Gate();
    const firstFragment = new Gate();
    const args = '{"a": 1234, "b": 4321}';
    server.script(
      {
        body: completion({ content: 'Adding.', tool_calls: [{ id: 'call_add', name: 't__add', arguments: args }] }),
        holdFirst: listening.opened,
        holdLast: firstFragment.opened,
      },
      { body: completion({ content: 'The sum is 5555.' }) },
    );
    received.length = 0;
    const id = await submit('add 1234 and 4321');
    const frames = await readSse(`${base}/v1/tasks/${id}/events`, (frame) => {
      listening.open();
      if (frame.event === 'delta' && frame.data.data.kind === 'tool_arguments') firstFragment.open();
    });
    const fragments = frames.filter((f) => f.event === 'delta' && f.data.data.kind === 'tool_arguments');
    expect(fragments.every((f) => f.data.data.callId === 'call_add' && f.data.data.tool === 't__add')).to.equal(true);
    expect(fragments.map((f) => f.data.data.fragment).join('')).to.equal(args);
    expect(received).to.deep.equal([JSON.parse(args)]);
    expect(frames.findIndex((f) => f.data.data?.kind === 'tool_arguments')).to.be.lessThan(
      frames.findIndex((f) => f.event === 'plan'),
    );
    // The second step's text follows the stored events of the first step.
    const secondStep = frames.filter((f) => f.event === 'delta' && f.data.data.step === 2);
    const lastResult = frames.findLast((f) => f.event === 'tool_result')!;
    expect(textOf(secondStep.map((f) => f.data))).to.equal('The sum is 5555.');
    expect(secondStep.every((f) => f.data.afterSeq === lastResult.data.seq)).to.equal(true);
    expect((await storedEvents(id)).some((e) => (e.type as string) === 'delta')).to.equal(false);
  });
});

describe('streamed output across processes: SSE on the API process sees the deltas of a worker', function () {
  this.timeout(120_000);
  const server = new ChatServer();
  let cluster: Cluster | undefined;

  before(async function () {
    await requireService(this, 'redis');
    await requireService(this, 'postgres');
    await server.start();
    cluster = new Cluster({ OPENAI_BASE_URL: server.url }, join(REPO, 'test/e2e/fixtures/streaming.config.ts'));
    await cluster.startApi();
    await cluster.startWorker();
  });
  after(async () => {
    await cluster?.stop();
    await server.stop();
  });

  it('relays the deltas over Redis, live, and stores none of them', async () => {
    const listening = new Gate();
    const firstDelta = new Gate();
    server.script({ body: completion({ content: ANSWER }), holdFirst: listening.opened, holdLast: firstDelta.opened });
    const task = await cluster!.api!.submit({ goal: 'tell me about otters, from a worker' });
    const frames = await readSse(`${cluster!.apiUrl}/v1/tasks/${task.id}/events`, (frame) => {
      listening.open();
      if (frame.event === 'delta') firstDelta.open();
    });
    const deltas = frames.filter((f) => f.event === 'delta');
    expect(textOf(deltas.map((f) => f.data))).to.equal(ANSWER);
    expect(frames.findIndex((f) => f.event === 'delta')).to.be.lessThan(frames.findIndex((f) => f.event === 'final'));
    expect((await cluster!.api!.get(task.id)).output).to.equal(ANSWER);
    expect((await cluster!.events(task.id)).map((e) => e.type)).to.deep.equal(['status', 'status', 'final', 'status']);
  });
});

describe('opspawn tasks submit --wait prints the answer as it streams', function () {
  this.timeout(60_000);
  const server = new ChatServer();
  let d: Deployment;
  let host: ReturnType<typeof spawn>;
  let url: string;

  before(async () => {
    await server.start();
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-openai', 'transport-rest'])
      d.linkBuiltIn(id);
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer',
        { use: '@opspawn/planner-openai', options: { baseURL: '${server.url}', model: 'test-model', maxRetries: 0 } },
        { use: '@opspawn/transport-rest', options: { port: 0 } }],
      planner: 'planner-openai',
      log: { level: 'silent' },
    }`);
    ({ host, url } = await d.start());
  });
  after(async () => {
    host?.kill('SIGTERM');
    if (host) await new Promise((r) => host.once('exit', r));
    d?.cleanup();
    await server.stop();
  });

  /**
   * Runs the real CLI while the model streams ANSWER: the model starts once the CLI shows the `running` line (it comes
   * from the event stream, so the CLI is watching), and holds its last piece until the CLI has printed the first
   * words of the answer: the text is printed as it streams, before the task ends.
   */
  const streamThroughCli = async (args: string[]): Promise<string[]> => {
    const watching = new Gate();
    const textShown = new Gate();
    server.script({ body: completion({ content: ANSWER }), holdFirst: watching.opened, holdLast: textShown.opened });
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: d.dir,
      env: { ...process.env, OPSPAWN_CONFIG: '', NO_COLOR: '1', OPSPAWN_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.stdout.on('data', (b: Buffer) => {
      stdout += b;
      if (stdout.includes('• running')) watching.open();
      if (stdout.includes(ANSWER.slice(0, 12))) textShown.open();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, stderr).to.equal(0);
    const lines = stdout.split('\n');
    const answerLine = lines.indexOf(ANSWER);
    expect(answerLine, stdout).to.be.greaterThan(lines.indexOf('• running (attempt 1)'));
    expect(lines[answerLine + 1]).to.equal(`= ${ANSWER}`);
    expect(lines.at(-2)).to.equal('• succeeded (attempt 1)');
    return lines;
  };

  it('tasks submit --wait writes the text as it arrives on its own line, then the structured lines', async () => {
    writeFileSync(join(d.dir, 'otters.json'), JSON.stringify({ goal: 'tell me about otters' }));
    const lines = await streamThroughCli(['tasks', 'submit', 'otters.json', '--wait']);
    expect(lines[0]).to.match(/^task_\w{26} queued$/);
  });

  it('tasks submit --wait --json prints the stored events only, one JSON object a line', async () => {
    server.script({ body: completion({ content: ANSWER }) });
    const json = await d.run(['tasks', 'submit', 'otters.json', '--wait', '--json'], { env: { OPSPAWN_URL: url } });
    expect(json.code, json.stderr).to.equal(0);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TaskEvent);
    expect(events.map((e) => e.type)).to.deep.equal(['status', 'status', 'final', 'status']);
  });

  it('opspawn run prints the text as it streams too', async () => {
    const lines = await streamThroughCli(['run', 'otters.json']);
    expect(lines[0]).to.match(/^task task_\w{26}: tell me about otters$/);
  });
});
