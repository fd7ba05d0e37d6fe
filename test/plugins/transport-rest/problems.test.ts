import { createServer, connect, type Server, type Socket } from 'node:net';
import { expect } from 'chai';
import pg from 'pg';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { POSTGRES_URL, requireService } from '../../helpers/services.js';

const KEY = 'problems-key';
const SCHEMA = `opspawn_problems_${process.pid}`;
const noop = { plan: [], final: 'done' };

/** A TCP relay to PostgreSQL that the test can cut, as a network partition would: the database itself keeps running. */
class Relay {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(target: URL) {
    this.server = createServer((inbound) => {
      const outbound = connect(Number(target.port || 5432), target.hostname);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('REST problems: every refusal carries its code, its fix and its status', function () {
  let kernel: TestKernel;
  let relay: Relay;
  let base: string;

  async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, json: (await response.json()) as any };
  }

  before(async function () {
    await requireService(this, 'postgres');
    relay = new Relay(new URL(POSTGRES_URL));
    const url = new URL(POSTGRES_URL);
    url.host = `127.0.0.1:${await relay.listen()}`;
    kernel = await startTestKernel({
      plugins: [
        {
          use: '@opspawn/store-postgres',
          options: { connectionString: url.toString(), schema: SCHEMA, connectTimeoutMs: 1000 },
        },
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        {
          use: '@opspawn/transport-rest',
          options: { port: 0, apiKeys: [{ key: KEY, name: 'test', scopes: ['admin'] }] },
        },
      ],
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });

  after(async () => {
    await kernel?.stop();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client
      .connect()
      .then(() => client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`))
      .catch(() => undefined);
    await client.end().catch(() => undefined);
  });

  it('404: an unknown task names the code, links its doc section and says how to find the task', async () => {
    const r = await api('GET', '/v1/tasks/task_00000000000000000000000000');
    expect(r.status).to.equal(404);
    expect(r.headers.get('content-type')).to.contain('application/problem+json');
    expect(r.json).to.include({
      status: 404,
      code: 'OPSPAWN_TASK_NOT_FOUND',
      type: 'https://opspawn.dev/docs/reference/errors#opspawn_task_not_found',
      instance: '/v1/tasks/task_00000000000000000000000000',
    });
    expect(r.json.hint).to.match(/check the id/);
  });

  it('400: input nested thousands of levels deep, or a leap-second notBefore, is refused naming the field', async () => {
    const deep = `${'['.repeat(5000)}"bottom"${']'.repeat(5000)}`;
    const nested = await api('POST', '/v1/tasks', `{"goal": "deep", "input": {"plan": [], "final": ${deep}}}`);
    expect(nested.status).to.equal(400);
    expect(nested.json.errors).to.deep.equal([{ path: 'input', message: 'must not nest deeper than 64 levels' }]);
    const leap = await api('POST', '/v1/tasks', { goal: 'leap', notBefore: '2016-12-31T23:59:60Z' });
    expect(leap.status).to.equal(400);
    expect(leap.json.errors.map((e: { path: string }) => e.path)).to.deep.equal(['notBefore']);
    const listed = await api('GET', '/v1/tasks?limit=500');
    expect(listed.json.tasks.map((t: { goal: string }) => t.goal)).not.to.include.members(['deep', 'leap']);
  });

  it('400: an invalid task names every field and says how to fix the request', async () => {
    const r = await api('POST', '/v1/tasks', { goal: '', priority: 99 });
    expect(r.status).to.equal(400);
    expect(r.json.code).to.equal('OPSPAWN_TASK_INVALID');
    expect(r.json.hint).to.be.a('string').and.not.empty;
    expect(r.json.errors.map((e: { path: string }) => e.path)).to.include.members(['goal', 'priority']);
  });

  it('409: a finished task refuses cancellation and says which tasks can be cancelled', async () => {
    const submitted = await api('POST', '/v1/tasks', {
      goal: 'cancel me',
      input: noop,
      notBefore: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(submitted.status).to.equal(202);
    expect((await api('POST', `/v1/tasks/${submitted.json.id}/cancel`)).status).to.equal(200);
    const again = await api('POST', `/v1/tasks/${submitted.json.id}/cancel`);
    expect(again.status).to.equal(409);
    expect(again.json.code).to.equal('OPSPAWN_TASK_NOT_CANCELLABLE');
    expect(again.json.hint).to.match(/queued, running or waiting/);
  });

  it('503 with Retry-After: the store cannot be reached, and the answer says to retry rather than report a bug', async () => {
    await relay.cut();
    const r = await api('GET', '/v1/tasks/task_00000000000000000000000000');
    expect(r.status).to.equal(503);
    expect(Number(r.headers.get('retry-after'))).to.be.above(0);
    expect(r.json).to.include({
      code: 'OPSPAWN_STORE_UNAVAILABLE',
      type: 'https://opspawn.dev/docs/reference/errors#opspawn_store_unavailable',
    });
    expect(r.json.hint).to.match(/PostgreSQL/);
  });
});
