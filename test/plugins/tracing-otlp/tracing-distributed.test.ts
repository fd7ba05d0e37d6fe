import { expect } from 'chai';
import type { Task } from '@opspawn/plugin-sdk';
import { Cluster } from '../../helpers/cluster.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { requireService } from '../../helpers/services.js';
import { outline, submitSpanOf } from '../../helpers/tracing.js';
import { until } from '../../helpers/until.js';

/** The caller's trace: a client that traces its own work and calls Opspawn inside it. */
const CALLER = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

/**
 * An API process and a worker process of config/distributed.config.ts, each with tracing-otlp exporting OTLP/HTTP
 * JSON to a receiver this test runs: one task's spans from both processes make one trace.
 */
describe('tracing-otlp across an API and a worker process (needs PostgreSQL and Redis)', function () {
  this.timeout(90_000);
  const receiver = new OtlpReceiver();
  let cluster: Cluster;

  before(async function () {
    await requireService(this, 'postgres');
    await requireService(this, 'redis');
    const url = await receiver.listen();
    cluster = new Cluster({ OPSPAWN_OTLP_URL: url, OPSPAWN_OTLP_FLUSH_MS: '50', OPSPAWN_CONCURRENCY: '2' });
    await cluster.startApi();
    await cluster.startWorker();
  });
  after(async () => {
    await cluster?.stop();
    await receiver.close();
  });

  it("continues the caller's traceparent: submit in the API, attempt, steps and tool call in the worker, one trace", async () => {
    const response = await fetch(`${cluster.apiUrl}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CALLER.traceId}-${CALLER.spanId}-01` },
      body: JSON.stringify({
        goal: 'add',
        input: { plan: [{ tool: 'js__calculate', arguments: { expression: '1 + 2' } }], final: 'done' },
      }),
    });
    expect(response.status).to.equal(202);
    const task = (await response.json()) as Task;
    await until('the task to succeed', async () =>
      (await cluster.api!.get(task.id)).status === 'succeeded' ? true : undefined,
    );
    // The worker exports its last spans shortly after the task ends.
    const spans = await until('every span of the task at the receiver', async () => {
      const ours = receiver.spans.filter((s) => s.traceId === CALLER.traceId);
      return ours.filter((s) => s.name === 'opspawn.llm').length === 2 ? ours : undefined;
    });

    const root = submitSpanOf(spans, task.id);
    expect(root.parentSpanId, "the submit span is a child of the caller's span").to.equal(CALLER.spanId);
    expect(outline(spans, root, (s) => `${s.name} (${s.service})`)).to.equal(
      [
        'opspawn.submit (opspawn-api)',
        '  opspawn.attempt (opspawn-worker)',
        '    opspawn.step (opspawn-worker)',
        '      opspawn.llm (opspawn-worker)',
        '      opspawn.tool (opspawn-worker)',
        '    opspawn.step (opspawn-worker)',
        '      opspawn.llm (opspawn-worker)',
      ].join('\n'),
    );
    expect(spans, 'nothing of the trace is outside that tree').to.have.length(7);
    const tool = spans.find((s) => s.name === 'opspawn.tool')!;
    expect(tool.attributes).to.include({
      'gen_ai.tool.name': 'js__calculate',
      'opspawn.tool.provider': 'tools-quickjs',
    });
  });
});
