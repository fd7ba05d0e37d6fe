import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { definePlugin, extensionPoints, type InlinePlugin } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { REPO } from '../../helpers/deployment.js';
import { loadGrpcService } from '../../helpers/grpc-service.js';

/** A client built from the .proto files at run time, as any gRPC user would. */
function client(address: string, token?: string) {
  const TaskService = loadGrpcService('tasks', 'TaskService');
  const c = new TaskService(address, grpc.credentials.createInsecure());
  const md = () => {
    const m = new grpc.Metadata();
    if (token) m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const call = <T = never>(method: string, request: object, deadlineMs = 5000): Promise<T> =>
    new Promise((resolve, reject) => {
      c[method](request, md(), { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(err) : resolve(res),
      );
    });
  const watch = (request: object): Promise<any[]> =>
    new Promise((resolve, reject) => {
      const events: any[] = [];
      const stream = c.Watch(request, md());
      stream.on('data', (e: any) => events.push(e));
      stream.on('end', () => resolve(events));
      stream.on('error', reject);
    });
  return { raw: c, call, watch, close: () => c.close() };
}

/** The google.rpc.Status of a failed call, decoded from the .proto files as any gRPC client would. */
function statusDetails(error: grpc.ServiceError): any {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/protobuf/') ? target : join(REPO, 'proto', target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  const bytes = error.metadata.get('grpc-status-details-bin')[0] as Buffer;
  expect(bytes, 'grpc-status-details-bin').to.be.instanceOf(Buffer);
  const status = root.lookupType('google.rpc.Status').decode(bytes) as any;
  const decoded: any = { code: status.code, message: status.message };
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const key = {
      'google.rpc.ErrorInfo': 'errorInfo',
      'google.rpc.Help': 'help',
      'google.rpc.BadRequest': 'badRequest',
    }[name as string];
    if (key) decoded[key] = root.lookupType(name).toObject(root.lookupType(name).decode(any.value));
  }
  return decoded;
}

/** A tool provider with one tool that echoes, so scripted plans have something to call. */
const echoTools: InlinePlugin = {
  manifest: { id: 'echo-tools', version: '1.0.0', kinds: ['tool-provider'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.toolProvider, {
        create: () => ({
          namespace: 'echo',
          list: async () => [
            {
              name: 'say',
              description: 'echoes',
              inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
            },
          ],
          call: async (_name: string, args: unknown) => ({ output: args }),
        }),
      });
    },
  }),
};

const plan = (text: string) => JSON.stringify({ plan: [{ tool: 'echo__say', arguments: { text } }] });
/** A scripted task that answers at once without tools. */
const noop = JSON.stringify({ plan: [], final: 'done' });

describe('transport-grpc', function () {
  let kernel: TestKernel;
  let address: string;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        '@opspawn/store-memory',
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        { use: echoTools },
        {
          use: '@opspawn/transport-grpc',
          options: {
            port: 0,
            apiKeys: [
              { key: 'reader-key', name: 'reader', scopes: ['read'] },
              { key: 'submit-key', name: 'submitter', scopes: ['read', 'submit'] },
            ],
          },
        },
      ],
      agents: {
        echo: { description: 'echoes', tools: ['echo__*'], limits: { timeoutMs: 30_000 }, labels: { kind: 'test' } },
        mute: {},
        careful: { tools: ['echo__*'], approval: { echo__say: 'always' } },
      },
    });
    address = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(() => kernel.stop());

  it('submits a task, gets it, and watches its events to the final one', async () => {
    const c = client(address, 'submit-key');
    const { task, created } = await c.call<any>('Submit', { goal: 'say hi', inputJson: plan('hi') });
    expect(created).to.equal(true);
    expect(task.id).to.match(/^task_/);
    const events = await c.watch({ id: task.id, afterSeq: 0 });
    expect(events.map((e) => e.seq)).to.deep.equal(events.map((_, i) => i + 1));
    const last = events.at(-1);
    expect(last.type).to.equal('status');
    expect(JSON.parse(last.dataJson).status).to.equal('succeeded');
    const got = await c.call<any>('Get', { id: task.id });
    expect(got.status).to.equal('TASK_STATUS_SUCCEEDED');
    expect(JSON.parse(got.outputJson)).to.deep.equal({ text: 'hi' });
    c.close();
  });

  it('resumes Watch from a sequence number', async () => {
    const c = client(address, 'submit-key');
    const { task } = await c.call<any>('Submit', { goal: 'resume', inputJson: plan('again') });
    const all = await c.watch({ id: task.id, afterSeq: 0 });
    const rest = await c.watch({ id: task.id, afterSeq: 2 });
    expect(rest.map((e) => e.seq)).to.deep.equal(all.slice(2).map((e) => e.seq));
    c.close();
  });

  it('sends every stream watching a task the same events, each task its own, as a later replay has them', async () => {
    // Streams of one task share each event's message and its encoded bytes (ADR 0024): none may see another's.
    const c = client(address, 'submit-key');
    const steps = JSON.stringify({
      plan: ['a', 'b', 'c', 'd'].map((text) => ({ tool: 'echo__say', arguments: { text } })),
    });
    const tasks = await Promise.all(
      ['first', 'second'].map((goal) => c.call<any>('Submit', { goal, inputJson: steps }).then((r) => r.task.id)),
    );
    const live = await Promise.all(
      tasks.map((id) => Promise.all(Array.from({ length: 5 }, () => c.watch({ id, afterSeq: 0 })))),
    );
    for (const [i, id] of tasks.entries()) {
      const replay = await c.watch({ id, afterSeq: 0 });
      expect(replay.at(-1).dataJson).to.contain('succeeded');
      expect(replay.every((e) => e.taskId === id)).to.equal(true);
      for (const stream of live[i]!) expect(stream).to.deep.equal(replay);
    }
    c.close();
  });

  it('returns the same task for the same idempotency key and ALREADY_EXISTS for a different request', async () => {
    const c = client(address, 'submit-key');
    const first = await c.call<any>('Submit', { goal: 'once', inputJson: noop, idempotencyKey: 'k-1' });
    const again = await c.call<any>('Submit', { goal: 'once', inputJson: noop, idempotencyKey: 'k-1' });
    expect(again.task.id).to.equal(first.task.id);
    expect(again.created).to.equal(false);
    const err = await c
      .call('Submit', { goal: 'something else', inputJson: noop, idempotencyKey: 'k-1' })
      .catch((e: grpc.ServiceError) => e);
    expect(err.code).to.equal(grpc.status.ALREADY_EXISTS);
    expect(err.metadata.get('opspawn-code')).to.deep.equal(['OPSPAWN_IDEMPOTENCY_CONFLICT']);
    c.close();
  });

  it('maps refusals to status codes consistently with REST', async () => {
    const c = client(address, 'submit-key');
    const notFound = await c.call('Get', { id: 'task_00000000000000000000000000' }).catch((e: grpc.ServiceError) => e);
    expect(notFound.code).to.equal(grpc.status.NOT_FOUND);
    const invalid = await c.call('Submit', { goal: '' }).catch((e: grpc.ServiceError) => e);
    expect(invalid.code).to.equal(grpc.status.INVALID_ARGUMENT);
    const badJson = await c.call('Submit', { goal: 'x', inputJson: '{nope' }).catch((e: grpc.ServiceError) => e);
    expect(badJson.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(badJson.details).to.contain('input_json');
    const badCursor = await c.call('List', { cursor: '!!!' }).catch((e: grpc.ServiceError) => e);
    expect(badCursor.code).to.equal(grpc.status.INVALID_ARGUMENT);
    c.close();
  });

  it("sends the code and its fix in the standard google.rpc.Status details, with a link to the code's doc", async () => {
    const c = client(address, 'submit-key');
    const notFound = await c.call('Get', { id: 'task_00000000000000000000000000' }).catch((e: grpc.ServiceError) => e);
    const status = statusDetails(notFound);
    expect(status.code).to.equal(grpc.status.NOT_FOUND);
    expect(status.errorInfo).to.deep.include({ reason: 'OPSPAWN_TASK_NOT_FOUND', domain: 'opspawn.dev' });
    expect(status.errorInfo.metadata.hint).to.match(/check the id/);
    expect(status.errorInfo.metadata.retryable).to.equal('false');
    expect(status.help.links[0].url).to.equal('https://opspawn.dev/docs/reference/errors#opspawn_task_not_found');
    expect(notFound.metadata.get('opspawn-hint')[0]).to.equal(status.errorInfo.metadata.hint);

    const invalid = statusDetails(await c.call('Submit', { goal: '' }).catch((e: grpc.ServiceError) => e));
    expect(invalid.errorInfo.reason).to.equal('OPSPAWN_TASK_INVALID');
    expect(invalid.badRequest.fieldViolations.map((v: any) => v.field)).to.include('goal');

    // A refused field named in Cyrillic still travels: the plain trailers are percent-encoded, the details are bytes.
    const cyrillic = await c
      .call('Submit', { goal: 'x', labels: { ключ: 'з'.repeat(501) } })
      .catch((e: grpc.ServiceError) => e);
    expect(cyrillic.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(statusDetails(cyrillic).badRequest.fieldViolations[0].field).to.contain('ключ');
    expect(decodeURIComponent(String(cyrillic.metadata.get('opspawn-details')[0]))).to.contain('ключ');
    c.close();
  });

  it('lists the agents, gets one, and answers NOT_FOUND naming the known ids for an unknown agent', async () => {
    const c = client(address, 'reader-key');
    const { agents } = (await c.call('ListAgents', {})) as { agents: any[] };
    expect(agents.map((a) => a.id)).to.deep.equal(['careful', 'echo', 'mute']);
    const echo = (await c.call('GetAgent', { id: 'echo' })) as any;
    expect(echo).to.deep.include({
      id: 'echo',
      description: 'echoes',
      planner: 'planner-scripted',
      tools: ['echo__*'],
    });
    expect(echo.labels).to.deep.equal({ kind: 'test' });
    expect(Number(echo.limits.timeoutMs)).to.equal(30_000);
    const missing = await c.call('GetAgent', { id: 'nobody' }).catch((e: grpc.ServiceError) => e);
    expect(missing.code).to.equal(grpc.status.NOT_FOUND);
    expect(missing.details).to.contain('echo, mute');
    c.close();
    const s = client(address, 'submit-key');
    const refused = await s.call('Submit', { goal: 'x', agent: 'nobody' }).catch((e: grpc.ServiceError) => e);
    expect(refused.code).to.equal(grpc.status.NOT_FOUND);
    expect(statusDetails(refused).errorInfo.reason).to.equal('OPSPAWN_AGENT_NOT_FOUND');
    const { task } = (await s.call('Submit', { goal: 'x', agent: 'echo', inputJson: noop })) as { task: any };
    expect(task.agent).to.equal('echo');
    expect(Number(task.timeoutMs)).to.equal(30_000);
    s.close();
  });

  it('lists newest first with cursor paging and filters', async () => {
    const c = client(address, 'submit-key');
    for (let i = 0; i < 3; i++)
      await c.call('Submit', { goal: `paged ${i}`, inputJson: noop, labels: { batch: 'paging' } });
    const first = await c.call<any>('List', { labels: { batch: 'paging' }, limit: 2 });
    expect(first.tasks.map((t: any) => t.goal)).to.deep.equal(['paged 2', 'paged 1']);
    const second = await c.call<any>('List', { labels: { batch: 'paging' }, limit: 2, cursor: first.nextCursor });
    expect(second.tasks.map((t: any) => t.goal)).to.deep.equal(['paged 0']);
    expect(second.nextCursor).to.equal('');
    const children = await c.call<any>('List', { parentId: first.tasks[0].id });
    expect(children.tasks).to.deep.equal([]); // a task no agent handed off from has no children
    const badParent = await c.call('List', { parentId: 'not-a-task' }).catch((e: grpc.ServiceError) => e);
    expect(badParent.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(badParent.details).to.contain('parent_id');
    c.close();
  });

  it('refuses calls without a key, with an unknown key, or without the scope', async () => {
    const none = await client(address)
      .call('List', {})
      .catch((e: grpc.ServiceError) => e);
    expect(none.code).to.equal(grpc.status.UNAUTHENTICATED);
    const wrong = await client(address, 'guess')
      .call('List', {})
      .catch((e: grpc.ServiceError) => e);
    expect(wrong.code).to.equal(grpc.status.UNAUTHENTICATED);
    const reader = client(address, 'reader-key');
    expect((await reader.call<any>('List', {})).tasks).to.be.an('array');
    const denied = await reader
      .call('Submit', { goal: 'not allowed', inputJson: noop })
      .catch((e: grpc.ServiceError) => e);
    expect(denied.code).to.equal(grpc.status.PERMISSION_DENIED);
    const watchDenied = await client(address)
      .watch({ id: 'task_00000000000000000000000000' })
      .then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
    expect(watchDenied?.code).to.equal(grpc.status.UNAUTHENTICATED);
  });

  it('answers grpc.health.v1 Check without a key', async () => {
    const def = protoLoader.loadSync((await import('grpc-health-check')).protoPath, { enums: String });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const health = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
    const res = await new Promise<any>((resolve, reject) =>
      health.Check({ service: 'opspawn.v1.TaskService' }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))),
    );
    expect(res.status).to.equal('SERVING');
    health.close();
  });

  it('serves reflection so tools can discover the API', async () => {
    const { protoPath } = await import('grpc-health-check');
    const reflectionProto = join(REPO, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const def = protoLoader.loadSync(reflectionProto, { keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const refl = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
    const services = await new Promise<string[]>((resolve, reject) => {
      const stream = refl.ServerReflectionInfo();
      stream.on('data', (msg: any) => {
        resolve(msg.list_services_response.service.map((s: any) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    expect(services).to.include('opspawn.v1.TaskService');
    expect(protoPath).to.be.a('string');
    refl.close();
  });

  it('respects the client deadline on a Watch that would never end', async () => {
    const c = client(address, 'submit-key');
    const { task } = await c.call<any>('Submit', {
      goal: 'later',
      inputJson: noop,
      notBefore: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const err = await new Promise<any>((resolve) => {
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer submit-key');
      const stream = c.raw.Watch({ id: task.id }, md, { deadline: Date.now() + 300 });
      stream.on('data', () => undefined);
      stream.on('error', resolve);
    });
    expect(err.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    await c.call('Cancel', { id: task.id });
    c.close();
  });

  it('decides a waiting call with Decide, recording the key name, and refuses a second decision', async () => {
    const c = client(address, 'submit-key');
    const { task } = await c.call<any>('Submit', { goal: 'say it carefully', agent: 'careful', inputJson: plan('hi') });
    const deadline = Date.now() + 10_000;
    while ((await c.call<any>('Get', { id: task.id })).status !== 'TASK_STATUS_WAITING_APPROVAL') {
      if (Date.now() > deadline) throw new Error('the task never waited');
      await new Promise((r) => setTimeout(r, 20));
    }
    const bad = await c
      .call('Decide', { id: task.id, callId: 's1c0', decision: 'DECISION_UNSPECIFIED' })
      .catch((e: grpc.ServiceError) => e);
    expect((bad as grpc.ServiceError).code).to.equal(grpc.status.INVALID_ARGUMENT);
    const queued = await c.call<any>('Decide', {
      id: task.id,
      callId: 's1c0',
      decision: 'DECISION_APPROVE',
      argumentsJson: JSON.stringify({ text: 'hello' }),
    });
    expect(queued.status).to.equal('TASK_STATUS_QUEUED');
    const again = await c
      .call('Decide', { id: task.id, callId: 's1c0', decision: 'DECISION_REJECT' })
      .catch((e: grpc.ServiceError) => e);
    expect((again as grpc.ServiceError).code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(statusDetails(again as grpc.ServiceError).errorInfo.reason).to.equal('OPSPAWN_APPROVAL_NOT_WAITING');
    const events = await c.watch({ id: task.id, afterSeq: 0 });
    const decided = events.find((e) => e.type === 'approval_decided');
    expect(JSON.parse(decided.dataJson)).to.include({ decision: 'approve', by: 'submitter' });
    const done = await c.call<any>('Get', { id: task.id });
    expect(done.status).to.equal('TASK_STATUS_SUCCEEDED');
    expect(JSON.parse(done.outputJson)).to.deep.equal({ text: 'hello' });
    c.close();
  });
});
