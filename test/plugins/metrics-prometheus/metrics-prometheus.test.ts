import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  definePlugin,
  extensionPoints,
  services,
  type HttpRoutes,
  type InlinePlugin,
  type TaskService,
} from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { REPO } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';
import { Exposition } from '../../helpers/prometheus-text.js';
import { ChatServer, completion } from '../planner-openai/chat-server.js';

const KEYS = { reader: 'metrics-reader-1', submitter: 'metrics-submit-2' };

/** A tool that holds its call until the test opens the gate: a task stays running while the test scrapes. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  return { open, opened, inside, entered };
}

async function finish(tasks: TaskService, id: string): Promise<string> {
  for await (const _ of tasks.watch(id));
  return (await tasks.get(id)).status;
}

describe('metrics-prometheus on the REST port', function () {
  this.timeout(30_000);
  const chat = new ChatServer();
  let kernel: TestKernel;
  let base: string;
  let tasks: TaskService;
  let held = gate();

  const scrape = async (key: string | null = KEYS.reader) => {
    const response = await fetch(`${base}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    expect(response.status, await response.clone().text()).to.equal(200);
    expect(response.headers.get('content-type')).to.contain('text/plain').and.contain('version=0.0.4');
    return Exposition.parse(await response.text());
  };

  before(async () => {
    await chat.start();
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/tools-quickjs', options: { dirs: [join(REPO, 'config/tools')], watch: false } },
        { use: '@opspawn/planner-openai', options: { baseURL: chat.url, model: 'test-model', maxRetries: 0 } },
        {
          use: toolsPlugin('held', 'held', [
            {
              name: 'wait',
              description: 'returns once the test opens the gate',
              inputSchema: { type: 'object' },
              run: async () => {
                held.entered();
                await held.opened;
                return { waited: true };
              },
            },
          ]),
        },
        {
          use: '@opspawn/transport-rest',
          options: {
            port: 0,
            apiKeys: [
              { key: KEYS.reader, name: 'reader', scopes: ['read'] },
              { key: KEYS.submitter, name: 'submitter', scopes: ['submit'] },
            ],
          },
        },
        { use: '@opspawn/metrics-prometheus', options: { serve: 'auto' } },
      ],
      planner: 'planner-scripted',
      agents: {
        calc: { description: 'calculates', tools: ['js__calculate', 'held__wait'] },
        asker: { description: 'asks the model', planner: 'planner-openai', tools: ['js__calculate'] },
      },
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    tasks = kernel.get(services.taskService);
  });
  after(async () => {
    held.open();
    await kernel?.stop();
    await chat.stop();
  });

  it('refuses /metrics without an API key (401 problem) and with a key lacking the read scope (403)', async () => {
    const none = await fetch(`${base}/metrics`);
    expect(none.status).to.equal(401);
    expect(none.headers.get('content-type')).to.contain('application/problem+json');
    expect(none.headers.get('www-authenticate')).to.equal('Bearer');
    expect(await none.json()).to.include({ code: 'OPSPAWN_UNAUTHENTICATED', status: 401 });
    const wrong = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer not-a-key' } });
    expect(wrong.status).to.equal(401);
    const submitOnly = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEYS.submitter}` } });
    expect(submitOnly.status).to.equal(403);
    expect(await submitOnly.json()).to.include({ code: 'OPSPAWN_FORBIDDEN' });
  });

  it('serves Prometheus text with a read key, with process metrics, plugin health and the REST route in OpenAPI', async () => {
    const m = await scrape();
    expect(m.type('opspawn_tasks_submitted_total')).to.equal('counter');
    expect(m.type('opspawn_task_duration_seconds')).to.equal('histogram');
    expect(m.type('nodejs_eventloop_lag_seconds'), 'event-loop lag from the default metrics').to.equal('gauge');
    expect(m.value('opspawn_plugin_up', { plugin: 'transport-rest', status: 'started' })).to.equal(1);
    expect(m.value('opspawn_plugin_up', { plugin: 'tools-quickjs' }), m.text).to.equal(1);
    expect(m.value('opspawn_ready')).to.equal(1);
    expect(m.value('opspawn_health_check', { check: 'broker-memory:broker', state: 'ok' })).to.equal(1);
    expect(m.value('opspawn_health_check', { check: 'broker-memory:broker', state: 'down' })).to.equal(0);
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, any> };
    expect(doc.paths['/metrics'].get).to.include({
      summary: 'Prometheus metrics of this process (text exposition format)',
    });
    expect(doc.paths['/metrics'].get.security).to.deep.equal([{ apiKey: [] }]);
  });

  it('serves every metric the sample Grafana dashboard queries', async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO, 'config/grafana/opspawn-dashboard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
    const queried = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\b((?:opspawn|nodejs|process)_\w+)/g)].map((m) => m[1]!)),
    );
    expect(queried.size).to.be.greaterThan(15);
    const m = await scrape();
    const served = (name: string) =>
      m.type(name.replace(/_bucket$/, '')) !== undefined || m.text.includes(`# TYPE ${name} `);
    expect([...queried].filter((name) => !served(name))).to.deep.equal([]);
  });

  it('moves task, step and tool-call counters and histograms as scripted tasks run a QuickJS tool', async () => {
    const before = await scrape();
    const plan = (expression: string) => ({
      plan: [{ tool: 'js__calculate', arguments: { expression } }],
      final: '{{ steps[0].output.value }}',
    });
    const ids: string[] = [];
    for (const expression of ['1 + 1', '2 * 3', '10 / 4']) {
      const { task } = await tasks.submit({ goal: 'calculate', agent: 'calc', input: plan(expression) });
      ids.push(task.id);
    }
    const { task: bad } = await tasks.submit({ goal: 'break', agent: 'calc', input: plan('1 +'), maxAttempts: 1 });
    ids.push(bad.id);
    const statuses = await Promise.all(ids.map((id) => finish(tasks, id)));
    expect(statuses).to.deep.equal(['succeeded', 'succeeded', 'succeeded', 'failed']);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    const hDelta = (name: string, labels: Record<string, string>) =>
      after.histogram(name, labels).count - before.histogram(name, labels).count;
    expect(delta('opspawn_tasks_submitted_total', { agent: 'calc' })).to.equal(4);
    expect(delta('opspawn_tasks_finished_total', { agent: 'calc', status: 'succeeded' })).to.equal(3);
    expect(delta('opspawn_tasks_finished_total', { agent: 'calc', status: 'failed' })).to.equal(1);
    expect(delta('opspawn_task_status_changes_total', { agent: 'calc', status: 'running' })).to.equal(4);
    expect(delta('opspawn_tool_calls_total', { tool: 'js__calculate', outcome: 'ok' })).to.equal(3);
    expect(delta('opspawn_tool_calls_total', { tool: 'js__calculate', outcome: 'error' })).to.equal(1);
    expect(hDelta('opspawn_tool_call_duration_seconds', { tool: 'js__calculate', outcome: 'ok' })).to.equal(3);
    expect(hDelta('opspawn_task_duration_seconds', { agent: 'calc', status: 'succeeded' })).to.equal(3);
    expect(hDelta('opspawn_task_duration_seconds', { agent: 'calc', status: 'failed' })).to.equal(1);
    expect(hDelta('opspawn_task_queue_wait_seconds', { agent: 'calc' })).to.equal(4);
    expect(hDelta('opspawn_task_attempt_duration_seconds', { agent: 'calc', status: 'succeeded' })).to.equal(3);
    // Each succeeded task decided twice (the plan, then the final answer); the failed one once.
    expect(delta('opspawn_task_steps_total', { agent: 'calc', planner: 'planner-scripted' })).to.equal(7);
    expect(hDelta('opspawn_planner_decision_duration_seconds', { planner: 'planner-scripted' })).to.equal(7);
    // Cumulative buckets: the +Inf bucket holds every observation, and no bucket holds more than the next.
    const h = after.histogram('opspawn_task_duration_seconds', { agent: 'calc', status: 'succeeded' });
    expect(h.buckets.at(-1)).to.deep.equal(['+Inf', h.count]);
    const counts = h.buckets.map(([, n]) => n);
    expect(counts).to.deep.equal([...counts].sort((a, b) => a - b));
    expect(h.sum).to.be.greaterThan(0);
    // A scripted planner calls no LLM.
    expect(after.value('opspawn_llm_calls_total', { planner: 'planner-scripted' })).to.equal(0);
  });

  it('shows a running task in flight while it runs, and not once it is done', async () => {
    held = gate();
    const { task } = await tasks.submit({
      goal: 'wait',
      agent: 'calc',
      input: { plan: [{ tool: 'held__wait', arguments: {} }], final: 'done' },
    });
    await held.inside;
    const during = await scrape();
    expect(during.value('opspawn_tasks_in_flight')).to.equal(1);
    held.open();
    expect(await finish(tasks, task.id)).to.equal('succeeded');
    const done = await scrape();
    expect(done.value('opspawn_tasks_in_flight')).to.equal(0);
    expect(done.histogram('opspawn_tool_call_duration_seconds', { tool: 'held__wait', outcome: 'ok' }).count).to.equal(
      1,
    );
  });

  it('counts LLM calls, tokens and their latency by planner and model from what planner-openai reports', async () => {
    chat.script(
      {
        body: completion(
          { tool_calls: [{ id: 'call_1', name: 'js__calculate', arguments: '{"expression":"2+3"}' }] },
          'tool_calls',
          { prompt_tokens: 120, completion_tokens: 17 },
        ),
      },
      { body: completion({ content: 'The sum is 5.' }, 'stop', { prompt_tokens: 160, completion_tokens: 9 }) },
    );
    const before = await scrape();
    const { task } = await tasks.submit({ goal: 'add 2 and 3', agent: 'asker' });
    expect(await finish(tasks, task.id)).to.equal('succeeded');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    const model = { planner: 'planner-openai', model: 'test-model' };
    expect(delta('opspawn_llm_calls_total', model)).to.equal(2);
    expect(delta('opspawn_llm_tokens_total', { ...model, direction: 'input' })).to.equal(280);
    expect(delta('opspawn_llm_tokens_total', { ...model, direction: 'output' })).to.equal(26);
    const latency = (m: typeof after) => m.histogram('opspawn_llm_call_duration_seconds', model).count;
    expect(latency(after) - latency(before)).to.equal(2);
    expect(delta('opspawn_task_steps_total', { agent: 'asker', planner: 'planner-openai' })).to.equal(2);
    expect(delta('opspawn_tasks_finished_total', { agent: 'asker', status: 'succeeded' })).to.equal(1);
  });

  it('shows the queue depth per priority while tasks wait in the broker', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const { task: a } = await tasks.submit({
      goal: 'later',
      agent: 'calc',
      input: { plan: [], final: 'x' },
      notBefore: later,
      priority: 5,
    });
    const { task: b } = await tasks.submit({
      goal: 'later',
      agent: 'calc',
      input: { plan: [], final: 'x' },
      notBefore: later,
      priority: 5,
    });
    const m = await scrape();
    expect(m.value('opspawn_queue_depth', { priority: '5', state: 'delayed' })).to.equal(2);
    await tasks.cancel(a.id);
    await tasks.cancel(b.id);
    const after = await scrape();
    expect(after.series('opspawn_queue_depth').filter((s) => s.labels.priority === '5')).to.deep.equal([]);
    expect(after.value('opspawn_tasks_finished_total', { agent: 'calc', status: 'cancelled' })).to.equal(2);
  });
});

/** A plugin claiming a prefix on the REST port, with one public route. */
function routesPlugin(id: string, prefix: string, path = prefix): InlinePlugin {
  return {
    manifest: { id, version: '1.0.0', kinds: [], kernel: '^1.0.0' },
    plugin: definePlugin({
      register(env) {
        env.provide(extensionPoints.httpRoutes, {
          create: (): HttpRoutes => ({
            prefix,
            routes: [
              {
                method: 'GET',
                path,
                scope: 'public',
                handle: (req) => ({ body: { plugin: id, params: req.params, query: req.query } }),
              },
            ],
          }),
        });
      },
    }),
  };
}

describe('plugin HTTP routes on the REST port', function () {
  const boot = (...plugins: InlinePlugin[]) =>
    startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/transport-rest', options: { port: 0 } },
        ...plugins.map((use) => ({ use })),
      ],
    });

  it('serves a public route without a key, with its params and query', async () => {
    const kernel = await boot(routesPlugin('echo', '/echo', '/echo/:name'));
    try {
      const base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
      const r = await fetch(`${base}/echo/ada?x=1&x=2`);
      expect(r.status).to.equal(200);
      expect(await r.json()).to.deep.equal({ plugin: 'echo', params: { name: 'ada' }, query: { x: ['1', '2'] } });
      const missing = await fetch(`${base}/echo`);
      expect(missing.status).to.equal(404);
      expect(await missing.json()).to.include({ code: 'OPSPAWN_NOT_FOUND' });
    } finally {
      await kernel.stop();
    }
  });

  it('streams an async-iterable body, reads a request body, and asks a route’s own scope', async () => {
    const kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        {
          use: '@opspawn/transport-rest',
          options: {
            port: 0,
            apiKeys: [
              { key: 'read-only', name: 'r', scopes: ['read'] },
              { key: 'sub', name: 's', scopes: ['submit'] },
            ],
          },
        },
        {
          use: {
            manifest: { id: 'streamer', version: '1.0.0', kinds: [], kernel: '^1.0.0' },
            plugin: definePlugin({
              register(env) {
                env.provide(extensionPoints.httpRoutes, {
                  create: (): HttpRoutes => ({
                    prefix: '/stream',
                    routes: [
                      {
                        method: 'GET',
                        path: '/stream/ticks',
                        scope: 'read',
                        handle: () => ({
                          headers: { 'content-type': 'text/plain; charset=utf-8' },
                          body: (async function* () {
                            for (const n of [1, 2, 3]) yield `tick ${n}\n`;
                          })(),
                        }),
                      },
                      {
                        method: 'POST',
                        path: '/stream/echo',
                        scope: 'submit',
                        handle: async (req) => ({
                          status: 201,
                          body: { got: Buffer.from(await req.body()).toString('utf8') },
                        }),
                      },
                    ],
                  }),
                });
              },
            }),
          },
        },
      ],
    });
    try {
      const base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
      const ticks = await fetch(`${base}/stream/ticks`, { headers: { authorization: 'Bearer read-only' } });
      expect(ticks.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(await ticks.text()).to.equal('tick 1\ntick 2\ntick 3\n');
      const post = (key: string) =>
        fetch(`${base}/stream/echo`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: 'hello' });
      const refused = await post('read-only');
      expect(refused.status).to.equal(403);
      expect(await refused.json()).to.include({ code: 'OPSPAWN_FORBIDDEN' });
      const echoed = await post('sub');
      expect(echoed.status).to.equal(201);
      expect(await echoed.json()).to.deep.equal({ got: 'hello' });
      const wrongMethod = await fetch(`${base}/stream/ticks`, {
        method: 'DELETE',
        headers: { authorization: 'Bearer sub' },
      });
      expect(wrongMethod.status).to.equal(405);
    } finally {
      await kernel.stop();
    }
  });

  it('refuses to start on a prefix claimed twice, one of its own, or a route outside the prefix', async () => {
    for (const [plugins, says] of [
      [[routesPlugin('one', '/metrics'), routesPlugin('two', '/metrics')], "which plugin 'one' claims too"],
      [[routesPlugin('own', '/v1')], 'which transport-rest serves'],
      [[routesPlugin('outside', '/ui', '/uix/index.html')], 'outside its prefix /ui'],
      [[routesPlugin('deep', '/ui/deeper')], 'claims prefix "/ui/deeper"'],
    ] as const) {
      const error = await boot(...plugins).then(
        async (k) => {
          await k.stop();
          return undefined;
        },
        (e) => e,
      );
      expect(error?.code, says).to.equal('OPSPAWN_HTTP_ROUTES_INVALID');
      expect(error.message).to.contain(says);
    }
  });
});
