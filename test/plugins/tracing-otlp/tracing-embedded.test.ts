import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type Task,
  type TaskService,
} from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import type { TraceExport } from '@opspawn/tracing-otlp';
import { BROKEN_TOOL, DOUBLE_TOOL, EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';
import { outline, startTracing, submitSpanOf, type SpanNode } from '../../helpers/tracing.js';
import { loadGrpcService } from '../../helpers/grpc-service.js';

const tools = toolsPlugin('trace-tools', 't', [DOUBLE_TOOL, BROKEN_TOOL]);

function node(span: ReadableSpan): SpanNode {
  return {
    name: span.name,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
    start: span.startTime[0] * 1e9 + span.startTime[1],
    attributes: { ...span.attributes },
    statusCode: span.status.code,
  };
}

/** A planner whose first decision for each task fails (a model API error), and which then answers. */
const failedOnce = new Set<string>();
const flakyPlanner: InlinePlugin = {
  manifest: { id: 'planner-flaky', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, {
        create: () => ({
          plan: async ({ task }) => {
            if (failedOnce.has(task.id)) return { kind: 'final', output: 'second time lucky' };
            failedOnce.add(task.id);
            throw new Error('the model API answered 503');
          },
        }),
      });
    },
  }),
};

/** gRPC `TaskService/Submit` with `traceparent` metadata, from a client built from the .proto files. */
function grpcSubmit(address: string, request: object, traceparent: string): Promise<{ task: Task }> {
  const TaskService = loadGrpcService('tasks', 'TaskService');
  const client = new TaskService(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('traceparent', traceparent);
  return new Promise((resolve, reject) =>
    client.Submit(request, metadata, (err: grpc.ServiceError | null, res: { task: Task }) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

async function settle(tasks: TaskService, id: string): Promise<Task> {
  for await (const _ of tasks.watch(id));
  return tasks.get(id);
}

describe('tracing: the spans of a task (embedded, in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: TraceExport;
  let kernel: TestKernel;
  let tasks: TaskService;

  before(async () => {
    tracing = startTracing(exporter);
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: tools },
        { use: flakyPlanner },
        { use: '@opspawn/transport-grpc', options: { port: 0 } },
      ],
      planner: 'planner-scripted',
      tasks: { concurrency: 1, defaultMaxAttempts: 1, retryBackoffMs: 10 },
      agents: {
        doubler: { tools: ['t__*'] },
        boss: { tools: ['agents__doubler'] },
      },
    });
    tasks = kernel.get(services.taskService);
  });
  after(async () => {
    await kernel?.stop();
    await tracing?.stop();
  });

  /** The spans of the trace `task` was submitted in, once every one of them has ended. */
  async function traceOf(task: Task): Promise<{ root: SpanNode; spans: SpanNode[] }> {
    await tracing.flush();
    const all = exporter.getFinishedSpans().map(node);
    const root = submitSpanOf(all, task.id);
    return { root, spans: all.filter((s) => s.traceId === root.traceId) };
  }

  it('records one trace per task: submit, then the attempt, its steps, the planner decisions and the tool call', async () => {
    const { task } = await tasks.submit({
      goal: 'double 21',
      agent: 'doubler',
      input: { plan: [{ tool: 't__double', arguments: { x: 21 } }] },
    });
    expect((await settle(tasks, task.id)).status).to.equal('succeeded');
    const { root, spans } = await traceOf(task);

    expect(root.parentSpanId, 'the submit span starts the trace').to.equal(undefined);
    expect(outline(spans, root)).to.equal(
      [
        'opspawn.submit',
        '  opspawn.attempt',
        '    opspawn.step',
        '      opspawn.llm',
        '      opspawn.tool',
        '    opspawn.step',
        '      opspawn.llm',
      ].join('\n'),
    );
    expect(spans, 'every span of the trace hangs under the submit span').to.have.length(7);
    const one = (name: string) => spans.filter((s) => s.name === name);
    expect(one('opspawn.attempt')[0]!.attributes).to.include({
      'opspawn.task.id': task.id,
      'opspawn.task.attempt': 1,
      'opspawn.agent': 'doubler',
      'opspawn.planner': 'planner-scripted',
      'opspawn.attempt.outcome': 'final',
    });
    expect(one('opspawn.attempt')[0]!.attributes['opspawn.queue.wait_ms']).to.be.a('number');
    expect(one('opspawn.step').map((s) => s.attributes['opspawn.step'])).to.deep.equal([1, 2]);
    expect(one('opspawn.llm').map((s) => s.attributes['opspawn.decision'])).to.deep.equal(['tools', 'final']);
    expect(one('opspawn.llm')[0]!.attributes).to.include({ 'opspawn.planner': 'planner-scripted' });
    expect(one('opspawn.tool')[0]!.attributes).to.include({
      'gen_ai.tool.name': 't__double',
      'opspawn.tool.provider': 'trace-tools',
    });
    expect(spans.every((s) => s.statusCode !== 2)).to.equal(true);
  });

  it('carries the trace context in the task, as the opspawn.traceparent label a worker elsewhere reads', async () => {
    const { task } = await tasks.submit({ goal: 'final only', input: { plan: [], final: 'done' } });
    await settle(tasks, task.id);
    const { root } = await traceOf(task);
    expect(task.labels['opspawn.traceparent']).to.equal(`00-${root.traceId}-${root.spanId}-01`);
  });

  it("continues a caller's trace given as the opspawn.traceparent label", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { task } = await tasks.submit({
      goal: 'in a trace of mine',
      input: { plan: [], final: 'done' },
      labels: { 'opspawn.traceparent': `00-${traceId}-00f067aa0ba902b7-01` },
    });
    await settle(tasks, task.id);
    const { root } = await traceOf(task);
    expect(root.traceId).to.equal(traceId);
    expect(root.parentSpanId).to.equal('00f067aa0ba902b7');
  });

  it("continues a gRPC caller's trace given as traceparent metadata", async () => {
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const address = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    const { task } = await grpcSubmit(
      address,
      { goal: 'over gRPC', inputJson: JSON.stringify({ plan: [], final: 'done' }) },
      `00-${traceId}-00f067aa0ba902b8-01`,
    );
    await settle(tasks, task.id);
    const { root, spans } = await traceOf(task);
    expect(root.traceId).to.equal(traceId);
    expect(root.parentSpanId).to.equal('00f067aa0ba902b8');
    expect(outline(spans, root)).to.equal(
      ['opspawn.submit', '  opspawn.attempt', '    opspawn.step', '      opspawn.llm'].join('\n'),
    );
  });

  it('puts a retry under the same submit span: one failed attempt, then the one that succeeded', async () => {
    const { task } = await tasks.submit({ goal: 'try twice', planner: 'planner-flaky', maxAttempts: 2 });
    expect((await settle(tasks, task.id)).status).to.equal('succeeded');
    const { root, spans } = await traceOf(task);
    const label = (s: SpanNode) => `${s.name}${s.statusCode === 2 ? ` ${String(s.attributes['error.type'])}` : ''}`;
    expect(outline(spans, root, label)).to.equal(
      [
        'opspawn.submit',
        '  opspawn.attempt OPSPAWN_PLANNER_FAILED',
        '    opspawn.step OPSPAWN_PLANNER_FAILED',
        '      opspawn.llm OPSPAWN_PLANNER_FAILED',
        '  opspawn.attempt',
        '    opspawn.step',
        '      opspawn.llm',
      ].join('\n'),
    );
    expect(
      spans.filter((s) => s.name === 'opspawn.attempt').map((s) => s.attributes['opspawn.task.attempt']),
    ).to.deep.equal([1, 2]);
  });

  it('marks a failing tool call with error status and its code, and the trace goes on', async () => {
    const { task } = await tasks.submit({
      goal: 'break, then double',
      agent: 'doubler',
      input: {
        plan: [
          { tool: 't__broken', arguments: {}, onError: 'continue' },
          { tool: 't__double', arguments: { x: 1 } },
        ],
      },
    });
    expect((await settle(tasks, task.id)).status).to.equal('succeeded');
    const { spans } = await traceOf(task);
    const toolSpans = spans.filter((s) => s.name === 'opspawn.tool');
    const broken = toolSpans.find((s) => s.attributes['gen_ai.tool.name'] === 't__broken')!;
    const double = toolSpans.find((s) => s.attributes['gen_ai.tool.name'] === 't__double')!;
    expect(broken.statusCode).to.equal(2);
    expect(broken.attributes['error.type']).to.match(/^OPSPAWN_TOOL_/);
    expect(double.statusCode).to.not.equal(2);
  });

  it("puts a handoff child's spans in its parent's trace, under the tool call that handed off", async () => {
    const { task } = await tasks.submit({
      goal: 'have 21 doubled',
      agent: 'boss',
      input: {
        plan: [
          {
            tool: 'agents__doubler',
            arguments: { goal: 'double 21', input: { plan: [{ tool: 't__double', arguments: { x: 21 } }] } },
          },
        ],
      },
    });
    expect((await settle(tasks, task.id)).status).to.equal('succeeded');
    const { root, spans } = await traceOf(task);
    const [child] = (await tasks.list({ parentId: task.id })).tasks;
    const label = (s: SpanNode) =>
      s.name === 'opspawn.tool' ? `${s.name} ${String(s.attributes['gen_ai.tool.name'])}` : s.name;
    expect(outline(spans, root, label)).to.equal(
      [
        'opspawn.submit',
        '  opspawn.attempt',
        '    opspawn.step',
        '      opspawn.llm',
        '      opspawn.tool agents__doubler',
        '        opspawn.submit',
        '          opspawn.attempt',
        '            opspawn.step',
        '              opspawn.llm',
        '              opspawn.tool t__double',
        '            opspawn.step',
        '              opspawn.llm',
        '    opspawn.step',
        '      opspawn.llm',
      ].join('\n'),
    );
    expect(submitSpanOf(spans, child!.id).traceId).to.equal(root.traceId);
  });
});
