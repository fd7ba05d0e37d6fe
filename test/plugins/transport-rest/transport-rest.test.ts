import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { Validator } from '@seriousme/openapi-schema-validator';
import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { REPO } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS, toolsPlugin } from '../../helpers/inline-plugins.js';

const KEYS = { admin: 'admin-key-123', reader: 'reader-key-456', submitter: 'submit-key-789' };
const noop = { plan: [], final: 'done' };

let kernel: TestKernel;
let base: string;
let waitFor: (ms: number) => Promise<void>;

async function api(
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const key = options.key === undefined ? KEYS.admin : options.key;
  const response = await fetch(base + path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(options.body !== undefined || options.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Reads an SSE stream until it ends; returns the events' ids and data. */
async function sse(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(base + path, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${KEYS.reader}`, ...headers },
  });
  expect(response.headers.get('content-type')).to.contain('text/event-stream');
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((b) => b.includes('data:'))
    .map((b) => ({
      id: Number(/^id: (\d+)$/m.exec(b)![1]),
      event: /^event: (.+)$/m.exec(b)![1],
      data: JSON.parse(/^data: (.+)$/m.exec(b)![1]!),
    }));
}

describe('transport-rest', function () {
  before(async () => {
    waitFor = (ms) => new Promise((r) => setTimeout(r, ms));
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        {
          use: toolsPlugin('t', 't', [
            {
              name: 'add',
              description: 'adds',
              inputSchema: { type: 'object', required: ['a', 'b'] },
              run: ({ a, b }) => ({ sum: a + b }),
            },
          ]),
        },
        {
          use: '@opspawn/transport-rest',
          options: {
            port: 0,
            sseHeartbeatMs: 100,
            maxBodyBytes: 64 * 1024,
            apiKeys: [
              { key: KEYS.admin, name: 'admin', scopes: ['admin'] },
              { key: KEYS.reader, name: 'reader', scopes: ['read'] },
              { key: KEYS.submitter, name: 'submitter', scopes: ['read', 'submit'] },
            ],
          },
        },
      ],
      agents: {
        adder: { description: 'adds numbers', tools: ['t__add'], limits: { maxSteps: 3 }, labels: { team: 'math' } },
        idle: { description: 'has no tools' },
      },
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(() => kernel.stop());

  it('accepts a task with 202 and a Location, and serves it', async () => {
    const r = await api('POST', '/v1/tasks', {
      body: { goal: 'add', input: { plan: [{ tool: 't__add', arguments: { a: 1, b: 2 } }] } },
    });
    expect(r.status).to.equal(202);
    expect(r.headers.get('location')).to.equal(`/v1/tasks/${r.json.id}`);
    const events = await sse(`/v1/tasks/${r.json.id}/events`);
    expect(events.at(-1)!.data.data.status).to.equal('succeeded');
    const got = await api('GET', r.headers.get('location')!);
    expect(got.json.output).to.deep.equal({ sum: 3 });
  });

  it('replays an Idempotency-Key with the same task and refuses it with another body', async () => {
    const first = await api('POST', '/v1/tasks', {
      body: { goal: 'once', input: noop },
      headers: { 'idempotency-key': 'rest-key-1' },
    });
    const again = await api('POST', '/v1/tasks', {
      body: { goal: 'once', input: noop },
      headers: { 'idempotency-key': 'rest-key-1' },
    });
    expect(again.status).to.equal(200);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(again.json.id).to.equal(first.json.id);
    const conflict = await api('POST', '/v1/tasks', {
      body: { goal: 'twice', input: noop },
      headers: { 'idempotency-key': 'rest-key-1' },
    });
    expect(conflict.status).to.equal(409);
    expect(conflict.headers.get('content-type')).to.contain('application/problem+json');
    expect(conflict.json).to.include({
      type: 'https://opspawn.dev/docs/reference/errors#opspawn_idempotency_conflict',
      status: 409,
      code: 'OPSPAWN_IDEMPOTENCY_CONFLICT',
    });
  });

  it('lists with status and label filters and an opaque cursor, and refuses bad ones', async () => {
    for (let i = 0; i < 3; i++)
      await api('POST', '/v1/tasks', { body: { goal: `page ${i}`, input: noop, labels: { suite: 'rest-list' } } });
    const first = await api('GET', '/v1/tasks?label=suite=rest-list&limit=2');
    expect(first.json.tasks.map((t: any) => t.goal)).to.deep.equal(['page 2', 'page 1']);
    const second = await api('GET', `/v1/tasks?label=suite=rest-list&limit=2&cursor=${first.json.nextCursor}`);
    expect(second.json.tasks.map((t: any) => t.goal)).to.deep.equal(['page 0']);
    expect(second.json.nextCursor).to.equal(undefined);
    expect((await api('GET', '/v1/tasks?status=queued,running&label=suite=rest-list')).status).to.equal(200);
    const parent = first.json.tasks[0].id;
    const children = await api('GET', `/v1/tasks?parentId=${parent}&label=suite=rest-list`);
    expect(children.status).to.equal(200);
    expect(children.json.tasks).to.deep.equal([]); // a task no agent handed off from has no children
    for (const bad of [
      'cursor=zzz',
      'limit=0',
      'limit=abc',
      'status=sleeping',
      'label=novalue',
      'colour=red',
      'parentId=not-a-task',
    ]) {
      const r = await api('GET', `/v1/tasks?${bad}`);
      expect(r.status, bad).to.equal(400);
      expect(r.json.errors, bad).to.be.an('array');
    }
  });

  it('gives field-level errors for an invalid task, 404 for unknown tasks and routes, 405 for a wrong method', async () => {
    const invalid = await api('POST', '/v1/tasks', { body: { goal: '', priority: 99, extra: true } });
    expect(invalid.status).to.equal(400);
    expect(invalid.json.type).to.equal('https://opspawn.dev/docs/reference/errors#opspawn_task_invalid');
    expect(invalid.json.errors.map((e: any) => e.path)).to.have.members(['goal', 'priority', 'extra']);
    expect((await api('GET', '/v1/tasks/task_00000000000000000000000000')).status).to.equal(404);
    expect((await api('GET', '/v1/tasks/not-an-id')).status).to.equal(404);
    expect((await api('GET', '/v1/nothing')).json.code).to.equal('OPSPAWN_NOT_FOUND');
    expect((await api('DELETE', '/v1/tasks')).status).to.equal(405);
  });

  it('refuses non-JSON bodies, malformed JSON and bodies over the limit', async () => {
    expect(
      (
        await api('POST', '/v1/tasks', {
          raw: 'goal=x',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        })
      ).status,
    ).to.equal(415);
    expect((await api('POST', '/v1/tasks', { raw: '{"goal": ' })).json.code).to.equal('OPSPAWN_MALFORMED_JSON');
    expect((await api('POST', '/v1/tasks', { raw: '[1,2]' })).status).to.equal(400);
    expect((await api('POST', '/v1/tasks', { body: { goal: 'x'.repeat(70 * 1024) } })).status).to.equal(413);
  });

  it('cancels a waiting task, and refuses to cancel it twice', async () => {
    const t = await api('POST', '/v1/tasks', {
      body: { goal: 'later', input: noop, notBefore: new Date(Date.now() + 60_000).toISOString() },
    });
    const cancelled = await api('POST', `/v1/tasks/${t.json.id}/cancel`);
    expect(cancelled.json.status).to.equal('cancelled');
    expect((await api('POST', `/v1/tasks/${t.json.id}/cancel`)).status).to.equal(409);
  });

  it('streams events live with heartbeats, resumes from Last-Event-ID, and replays as JSON', async () => {
    const t = await api('POST', '/v1/tasks', {
      body: {
        goal: 'soon',
        input: { plan: [{ tool: 't__add', arguments: { a: 2, b: 2 } }] },
        notBefore: new Date(Date.now() + 400).toISOString(),
      },
    });
    const response = await fetch(`${base}/v1/tasks/${t.json.id}/events`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${KEYS.reader}` },
    });
    const text = await response.text();
    expect(text).to.contain(': heartbeat');
    const all = text.split('\n\n').filter((b) => b.includes('data:'));
    expect(all.length).to.be.greaterThan(4);
    const resumed = await sse(`/v1/tasks/${t.json.id}/events`, { 'last-event-id': '3' });
    expect(resumed.map((e) => e.id)).to.deep.equal(Array.from({ length: all.length - 3 }, (_, i) => i + 4));
    const replay = await api('GET', `/v1/tasks/${t.json.id}/events?after=2`, { key: KEYS.reader });
    expect(replay.json.events.map((e: any) => e.seq)[0]).to.equal(3);
  });

  it('serves plugins, tools, health and readiness', async () => {
    expect((await api('GET', '/v1/plugins')).json.plugins.map((p: any) => p.id)).to.include('transport-rest');
    expect((await api('GET', '/v1/tools')).json.tools.map((t: any) => t.name)).to.deep.equal(['t__add']);
    expect((await api('GET', '/healthz', { key: null })).json).to.deep.equal({ live: true });
    const ready = await api('GET', '/readyz', { key: null });
    expect(ready.status).to.equal(200);
    expect(ready.json.ready).to.equal(true);
  });

  it('lists the agents and serves one, and answers 404 AGENT_NOT_FOUND naming the known ids', async () => {
    const list = await api('GET', '/v1/agents', { key: KEYS.reader });
    expect(list.status).to.equal(200);
    expect(list.json.agents.map((a: any) => a.id)).to.deep.equal(['adder', 'idle']);
    const one = await api('GET', '/v1/agents/adder', { key: KEYS.reader });
    expect(one.json).to.deep.equal({
      id: 'adder',
      description: 'adds numbers',
      planner: 'planner-scripted',
      memory: 'memory-buffer',
      tools: ['t__add'],
      limits: { maxSteps: 3 },
      labels: { team: 'math' },
    });
    const missing = await api('GET', '/v1/agents/nobody', { key: KEYS.reader });
    expect(missing.status).to.equal(404);
    expect(missing.json.code).to.equal('OPSPAWN_AGENT_NOT_FOUND');
    expect(missing.json.detail).to.contain('adder, idle');
  });

  it('submits a task to an agent, refuses an unknown agent with 404, and records an out-of-scope call', async () => {
    const unknown = await api('POST', '/v1/tasks', { body: { goal: 'x', agent: 'nobody' } });
    expect(unknown.status).to.equal(404);
    expect(unknown.json.code).to.equal('OPSPAWN_AGENT_NOT_FOUND');
    expect(unknown.json.detail).to.contain('adder, idle');
    const ok = await api('POST', '/v1/tasks', {
      body: { goal: 'add', agent: 'adder', input: { plan: [{ tool: 't__add', arguments: { a: 2, b: 2 } }] } },
    });
    expect(ok.status).to.equal(202);
    expect(ok.json).to.include({ agent: 'adder', maxSteps: 3 });
    const refused = await api('POST', '/v1/tasks', {
      body: { goal: 'add', agent: 'idle', input: { plan: [{ tool: 't__add', arguments: { a: 2, b: 2 } }] } },
    });
    const events = await sse(`/v1/tasks/${refused.json.id}/events`);
    const result = events.find((e) => e.event === 'tool_result')!;
    expect(result.data.data).to.deep.include({ tool: 't__add', ok: false });
    expect(result.data.data.error.code).to.equal('OPSPAWN_TOOL_OUT_OF_SCOPE');
    expect(events.at(-1)!.data.data.status).to.equal('failed');
    expect((await sse(`/v1/tasks/${ok.json.id}/events`)).at(-1)!.data.data.status).to.equal('succeeded');
  });

  it('asks for a key on every task route and method, checks scopes, and leaves health open', async () => {
    const routes: Array<[string, string, Record<string, string>]> = [
      ['POST', '/v1/tasks', { goal: 'x' }],
      ['GET', '/v1/tasks', {}],
      ['GET', '/v1/tasks/task_00000000000000000000000000', {}],
      ['POST', '/v1/tasks/task_00000000000000000000000000/cancel', {}],
      ['GET', '/v1/tasks/task_00000000000000000000000000/events', {}],
      ['GET', '/v1/plugins', {}],
      ['GET', '/v1/tools', {}],
      ['GET', '/v1/agents', {}],
      ['GET', '/v1/agents/adder', {}],
    ];
    for (const [method, path, body] of routes) {
      const none = await api(method, path, { key: null, body: method === 'POST' ? body : undefined });
      expect(none.status, `${method} ${path}`).to.equal(401);
      expect(none.headers.get('www-authenticate')).to.equal('Bearer');
      expect(
        (await api(method, path, { key: 'wrong', body: method === 'POST' ? body : undefined })).status,
        `${method} ${path}`,
      ).to.equal(401);
    }
    expect((await api('POST', '/v1/tasks', { key: KEYS.reader, body: { goal: 'x', input: noop } })).status).to.equal(
      403,
    );
    expect((await api('POST', '/v1/tasks', { key: KEYS.submitter, body: { goal: 'x', input: noop } })).status).to.equal(
      202,
    );
    expect((await api('GET', '/v1/tasks', { key: KEYS.reader })).status).to.equal(200);
    for (const open of ['/healthz', '/readyz', '/openapi.json'])
      expect((await api('GET', open, { key: null })).status, open).to.equal(200);
  });

  it('answers CORS only for configured origins', async () => {
    const k = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/transport-rest', options: { port: 0, cors: { origins: ['https://app.example'] } } },
      ],
    });
    const url = k.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    const preflight = await fetch(`${url}/v1/tasks`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://app.example');
    const other = await fetch(`${url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).to.equal(null);
    await k.stop();
  });

  it('publishes a valid OpenAPI 3.1 document, the same as the committed docs/reference/openapi.json', async () => {
    const doc = (await api('GET', '/openapi.json', { key: null })).json;
    const result = await new Validator().validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    const committed = JSON.parse(readFileSync(join(REPO, 'docs/reference/openapi.json'), 'utf8'));
    expect(
      doc,
      'docs/reference/openapi.json is stale: run npx tsx plugins/transport-rest/scripts/write-openapi.ts',
    ).to.deep.equal(committed);
  });

  it("lints clean with Redocly's recommended rules", async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const source = readFileSync(join(REPO, 'docs/reference/openapi.json'), 'utf8');
    const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
    // The open routes (health, the document) answer no 4xx at all: a 4xx response there would make the document lie.
    const answersNo4xx = ['/healthz', '/readyz', '/openapi.json'].map(
      (p) => `#/paths/${p.replaceAll('/', '~1')}/get/responses`,
    );
    const found = problems
      .filter((p) => !(p.ruleId === 'operation-4xx-response' && answersNo4xx.includes(p.location[0]?.pointer ?? '')))
      .map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(found).to.deep.equal([]);
  });

  it('answers thousands of malformed or hostile requests without a single 5xx, and stays ready', async function () {
    this.timeout(120_000);
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)]!;
    const bodies = [
      '',
      '{',
      'null',
      '[]',
      '"x"',
      '{"goal":1}',
      '{"goal":"x","__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"goal":"x","labels":{"a":{"b":1}}}',
      '{"goal":"x","priority":1e309}',
      '{"goal":"x","timeoutMs":-1}',
      `{"goal":"x","input":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      '{"goal":"x","notBefore":"yesterday"}',
      `{"goal":"${'y'.repeat(20000)}"}`,
      '\u0000\u0001',
      '{"goal":"x","planner":"../../etc/passwd"}',
    ];
    const paths = [
      '/v1/tasks',
      '/v1/tasks/task_00000000000000000000000000',
      '/v1/tasks/%00',
      '/v1/tasks/..%2F..%2F',
      '/v1/tasks?limit=-5',
      '/v1/tasks?cursor=%ff%fe',
      '/v1/tasks?status=',
      '/v1/tasks?label==',
      '/v1/tasks?limit=1&limit=2',
      '/v1/tasks/x/events?after=-1',
      '/v1/tasks/task_00000000000000000000000000/cancel',
      '/%2e%2e/',
      '/v1/tasks?__proto__=x',
    ];
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
    const types = ['application/json', 'text/plain', 'application/json; charset=utf-16', 'multipart/form-data', ''];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3000; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const method = pick(methods);
          const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
          const response = await fetch(base + pick(paths), {
            method,
            headers: {
              authorization: `Bearer ${pick([KEYS.admin, KEYS.reader, 'nope', ''])}`,
              ...(hasBody ? { 'content-type': pick(types) } : {}),
              'last-event-id': pick(['', '-1', 'abc', '5']),
            },
            body: hasBody ? pick(bodies) : undefined,
          });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }),
      );
    }
    const fiveHundreds = [...statuses].filter(([s]) => s >= 500);
    expect(fiveHundreds, JSON.stringify([...statuses])).to.deep.equal([]);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect((await api('GET', '/readyz', { key: null })).json.ready).to.equal(true);
    expect((await api('POST', '/v1/tasks', { body: { goal: 'after the storm', input: noop } })).status).to.equal(202);
    void waitFor;
  });
});
