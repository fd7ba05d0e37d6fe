import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  ErrorCodes,
  OpspawnProblems,
  SCHEDULE_LABEL,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type OpspawnConfig,
  type Schedule,
  type Task,
} from '@opspawn/plugin-sdk';
import { bootKernel, createLogger } from '@opspawn/core';
import { SqliteTaskStore } from '@opspawn/store-sqlite';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { runCli } from '../../helpers/deployment.js';
import { REPO } from '../../helpers/deployment.js';
import { loadGrpcService } from '../../helpers/grpc-service.js';

/** A planner whose tasks run until the test lets them go: how a fire's task is kept "still running". */
let release: () => void = () => undefined;
let released = new Promise<void>((resolve) => (release = resolve));
const gatePlanner: InlinePlugin = {
  manifest: { id: 'planner-gate', version: '1.0.0', kinds: ['planner'], kernel: '^1.0.0' },
  plugin: definePlugin({
    register(env) {
      env.provide(extensionPoints.planner, {
        create: () => ({
          plan: async () => {
            await released;
            return { kind: 'final', output: 'let go' };
          },
        }),
      });
    },
  }),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function config(path: string, extra: Partial<OpspawnConfig> = {}): OpspawnConfig {
  return {
    plugins: [
      { use: '@opspawn/store-sqlite', options: { path } },
      '@opspawn/broker-memory',
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
      { use: gatePlanner },
      { use: '@opspawn/transport-rest', options: { port: 0 } },
      { use: '@opspawn/transport-grpc', options: { port: 0 } },
    ],
    planner: 'planner-scripted',
    agents: { reporter: { planner: 'planner-scripted' }, waiter: { planner: 'planner-gate' } },
    tasks: { schedulePollMs: 200 },
    log: { level: 'silent' },
    ...extra,
  };
}

/** A running host on an SQLite file, reached over REST like a user would. */
class Host {
  private constructor(
    readonly kernel: TestKernel,
    readonly url: string,
  ) {}

  static async start(path: string, extra: Partial<OpspawnConfig> = {}): Promise<Host> {
    const kernel = await startTestKernel(config(path, extra) as never);
    const rest = kernel.get(extensionPoints.transport).find((t) => t.plugin === 'transport-rest')!.value;
    return new Host(kernel, rest.addresses()[0]!);
  }

  /** A ScheduleService client built from the .proto files, as any gRPC user would. */
  grpc(): { call: <T = any>(method: string, request: object) => Promise<T>; close: () => void } {
    const address = this.kernel.get(extensionPoints.transport).find((t) => t.plugin === 'transport-grpc')!.value;
    const ScheduleService = loadGrpcService('schedules', 'ScheduleService');
    const c = new ScheduleService(address.addresses()[0], grpc.credentials.createInsecure());
    return {
      call: (method, request) =>
        new Promise((resolve, reject) =>
          c[method](request, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res))),
        ),
      close: () => c.close(),
    };
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? undefined : await response.json() };
  }

  async create(body: Record<string, unknown>): Promise<Schedule> {
    const { status, body: schedule } = await this.call('POST', '/v1/schedules', body);
    expect(status, JSON.stringify(schedule)).to.equal(201);
    return schedule;
  }

  async tasksOf(scheduleId: string): Promise<Task[]> {
    const { tasks } = await this.kernel
      .get(services.taskService)
      .list({ labels: { [SCHEDULE_LABEL]: scheduleId }, limit: 500 });
    return tasks;
  }
}

describe('schedules (SQLite, over REST)', function () {
  this.timeout(60_000);
  let dir: string;
  const hosts: Host[] = [];
  const start = async (extra: Partial<OpspawnConfig> = {}) => {
    const host = await Host.start(join(dir, 'tasks.db'), extra);
    hosts.push(host);
    return host;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'opspawn-schedules-'));
    released = new Promise<void>((resolve) => (release = resolve));
  });
  afterEach(async () => {
    release();
    for (const host of hosts.splice(0)) await host.kernel.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad input naming the field: an invalid cron expression or time zone, both or neither timing, an unknown agent or id', async () => {
    const host = await start();
    const task = { goal: 'report' };
    const badCron = await host.call('POST', '/v1/schedules', { cron: 'every day at noon', task });
    expect(badCron.status).to.equal(400);
    expect(badCron.body.code).to.equal(ErrorCodes.SCHEDULE_INVALID);
    expect(badCron.body.errors).to.deep.include.members([{ path: 'cron', message: badCron.body.errors[0].message }]);
    expect(badCron.body.errors[0].message).to.contain("'every day at noon' is not a cron expression");

    const badZone = await host.call('POST', '/v1/schedules', { cron: '0 3 * * *', timezone: 'Mars/Olympus', task });
    expect(badZone.status).to.equal(400);
    expect(badZone.body.errors.map((e: { path: string }) => e.path)).to.deep.equal(['timezone']);

    const both = await host.call('POST', '/v1/schedules', { cron: '0 3 * * *', everyMs: 5000, task });
    expect(both.status).to.equal(400);
    expect(both.body.detail).to.contain('cron give cron or everyMs, not both');
    const neither = await host.call('POST', '/v1/schedules', { task });
    expect(neither.body.detail).to.contain('cron give cron or everyMs');

    const agent = await host.call('POST', '/v1/schedules', { everyMs: 5000, agent: 'nobody', task });
    expect(agent.status).to.equal(404);
    expect(agent.body.code).to.equal(ErrorCodes.AGENT_NOT_FOUND);
    expect(agent.body.detail).to.contain('known agents: reporter, waiter');

    for (const [method, path] of [
      ['GET', '/v1/schedules/nope'],
      ['DELETE', '/v1/schedules/nope'],
      ['POST', '/v1/schedules/nope/pause'],
    ] as const) {
      const missing = await host.call(method, path);
      expect(missing.status, `${method} ${path}`).to.equal(404);
      expect(missing.body.code).to.equal(ErrorCodes.SCHEDULE_NOT_FOUND);
    }
    const patch = await host.call('PATCH', '/v1/schedules/nope', { everyMs: 2000 });
    expect(patch.status).to.equal(404);
  });

  it('creates, lists, changes and deletes a schedule; its next due time follows the cron expression in its time zone', async () => {
    const host = await start();
    const created = await host.create({
      id: 'nightly',
      agent: 'reporter',
      cron: '30 2 * * *',
      timezone: 'Asia/Kolkata',
      task: { goal: 'nightly report', input: { plan: [], final: 'done' } },
    });
    // 02:30 in Kolkata (UTC+05:30) is 21:00 UTC.
    expect(created.nextDueAt).to.match(/T21:00:00\.000Z$/);
    expect(created).to.include({ source: 'api', missed: 'skip', overlap: 'skip', paused: false, fires: 0 });
    expect((await host.call('GET', '/v1/schedules')).body.schedules.map((s: Schedule) => s.id)).to.deep.equal([
      'nightly',
    ]);
    const taken = await host.call('POST', '/v1/schedules', { id: 'nightly', everyMs: 5000, task: { goal: 'x' } });
    expect([taken.status, taken.body.code]).to.deep.equal([409, ErrorCodes.SCHEDULE_EXISTS]);

    const changed = await host.call('PATCH', '/v1/schedules/nightly', { everyMs: 3_600_000, overlap: 'allow' });
    expect(changed.status).to.equal(200);
    expect(changed.body).to.include({ everyMs: 3_600_000, overlap: 'allow' });
    expect(changed.body).not.to.have.property('cron');
    const badPatch = await host.call('PATCH', '/v1/schedules/nightly', { cron: '61 * * * *' });
    expect([badPatch.status, badPatch.body.errors[0].path]).to.deep.equal([400, 'cron']);
    const zoneOnInterval = await host.call('PATCH', '/v1/schedules/nightly', { timezone: 'Europe/Paris' });
    expect([zoneOnInterval.status, zoneOnInterval.body.errors[0].path]).to.deep.equal([400, 'timezone']);

    expect((await host.call('DELETE', '/v1/schedules/nightly')).status).to.equal(204);
    expect((await host.call('GET', '/v1/schedules/nightly')).status).to.equal(404);
  });

  it('fires each due time once with the schedule id in its labels and a key per due time; pause stops it, resume starts it again', async () => {
    const host = await start();
    const schedule = await host.create({
      agent: 'reporter',
      everyMs: 1000,
      task: { goal: 'tick', input: { plan: [], final: 'tock' }, labels: { team: 'ops' } },
    });
    await sleep(3300);
    await host.call('POST', `/v1/schedules/${schedule.id}/pause`);
    // A fire in flight when the pause landed ends before this look.
    await sleep(200);
    const fired = await host.tasksOf(schedule.id);
    expect(fired.length).to.be.within(2, 4);
    expect(new Set(fired.map((t) => t.idempotencyKey)).size).to.equal(fired.length);
    for (const t of fired) {
      expect(t.labels).to.deep.equal({ team: 'ops', [SCHEDULE_LABEL]: schedule.id });
      expect(t.agent).to.equal('reporter');
      expect(t.idempotencyKey).to.match(new RegExp(`^schedule:${schedule.id}:\\d{4}-.*Z$`));
    }
    const paused = (await host.call('GET', `/v1/schedules/${schedule.id}`)).body as Schedule;
    expect(paused.paused).to.equal(true);
    expect(paused.fires).to.be.within(fired.length - 1, fired.length);
    expect(fired.map((t) => t.id)).to.include(paused.lastTaskId);

    await sleep(2200);
    expect(await host.tasksOf(schedule.id)).to.have.length(fired.length);

    const resumed = (await host.call('POST', `/v1/schedules/${schedule.id}/resume`)).body as Schedule;
    expect(resumed.paused).to.equal(false);
    expect(Date.parse(resumed.nextDueAt)).to.be.greaterThan(Date.now() - 1000);
    await sleep(2300);
    expect((await host.tasksOf(schedule.id)).length).to.be.within(fired.length + 1, fired.length + 3);
  });

  it('fires the first due time of a schedule made over the API in this process, not only what the next poll finds', async () => {
    // A poll every minute: without a wake on create, the first due time would be found a minute late, and merged.
    const host = await start({ tasks: { schedulePollMs: 60_000 } });
    const schedule = await host.create({
      agent: 'reporter',
      everyMs: 1000,
      task: { goal: 'tick', input: { plan: [], final: 'tock' } },
    });
    for (const deadline = Date.now() + 10_000; (await host.tasksOf(schedule.id)).length === 0; await sleep(100))
      if (Date.now() > deadline) break;
    const [first] = await host.tasksOf(schedule.id);
    expect(first?.idempotencyKey, 'the first fire is the due time create answered').to.equal(
      `schedule:${schedule.id}:${schedule.nextDueAt}`,
    );
  });

  it("with overlap 'skip' does not fire while the previous task runs, recording the skip; with 'allow' fires anyway", async () => {
    const host = await start();
    const task = { goal: 'slow', input: {} };
    const skip = await host.create({ id: 'skipper', agent: 'waiter', everyMs: 1000, overlap: 'skip', task });
    const allow = await host.create({ id: 'allower', agent: 'waiter', everyMs: 1000, overlap: 'allow', task });
    await sleep(3500);
    await host.call('POST', '/v1/schedules/skipper/pause');
    await host.call('POST', '/v1/schedules/allower/pause');
    const skipped = await host.tasksOf(skip.id);
    expect(skipped).to.have.length(1);
    expect(skipped[0]!.status).to.equal('running');
    const state = (await host.call('GET', '/v1/schedules/skipper')).body as Schedule;
    expect(state.skips).to.be.at.least(2);
    expect(state.lastSkip).to.include({ reason: 'overlap', detail: `task ${skipped[0]!.id} is running` });
    expect((await host.tasksOf(allow.id)).length).to.be.at.least(3);
  });

  it("after everything was down, 'skip' fires nothing for the missed due times and 'catch_up_one' fires once", async () => {
    const path = join(dir, 'tasks.db');
    const first = await start();
    const task = { goal: 'hourly', input: { plan: [], final: 'ok' } };
    await first.create({ id: 'skips', agent: 'reporter', everyMs: 60_000, missed: 'skip', task });
    await first.create({ id: 'catches-up', agent: 'reporter', everyMs: 60_000, missed: 'catch_up_one', task });
    await first.kernel.stop();
    hosts.splice(0);

    // Ten and a half minutes pass with no host running: the due times of both schedules go by.
    const store = SqliteTaskStore.open({ path, busyTimeoutMs: 2000 });
    for (const id of ['skips', 'catches-up']) {
      const s = (await store.schedules.get(id))!;
      await store.schedules.replace({ ...s, nextDueAt: new Date(Date.now() - 630_000).toISOString() }, s.revision);
    }
    store.close();

    const second = await start({ tasks: { schedulePollMs: 200, scheduleLateAfterMs: 5000 } });
    await sleep(1000);
    expect(await second.tasksOf('skips')).to.have.length(0);
    const skipped = (await second.call('GET', '/v1/schedules/skips')).body as Schedule;
    expect(skipped.skips).to.equal(11);
    expect(skipped.lastSkip?.reason).to.equal('missed');
    expect(Date.parse(skipped.nextDueAt)).to.be.greaterThan(Date.now());

    const caught = await second.tasksOf('catches-up');
    expect(caught).to.have.length(1);
    const caughtUp = (await second.call('GET', '/v1/schedules/catches-up')).body as Schedule;
    expect(caughtUp).to.include({ fires: 1, skips: 0, lastTaskId: caught[0]!.id });
    expect(Date.parse(caughtUp.nextDueAt)).to.be.greaterThan(Date.now());
  });

  it('upserts config schedules at each start: read-only over the API but for pause, the config winning on restart', async () => {
    const path = join(dir, 'tasks.db');
    const schedules = {
      daily: { agent: 'reporter', cron: '0 6 * * 1-5', timezone: 'Europe/Paris', task: { goal: 'morning report' } },
    };
    const first = await start({ schedules });
    const made = await first.create({ id: 'adhoc', everyMs: 3_600_000, task: { goal: 'x' } });
    const daily = (await first.call('GET', '/v1/schedules/daily')).body as Schedule;
    expect(daily).to.include({ source: 'config', cron: '0 6 * * 1-5', timezone: 'Europe/Paris' });
    const edit = await first.call('PATCH', '/v1/schedules/daily', { everyMs: 5000 });
    expect([edit.status, edit.body.code]).to.deep.equal([409, ErrorCodes.SCHEDULE_READ_ONLY]);
    const remove = await first.call('DELETE', '/v1/schedules/daily');
    expect(remove.status).to.equal(409);
    expect((await first.call('POST', '/v1/schedules/daily/pause')).body.paused).to.equal(true);
    await first.kernel.stop();
    hosts.splice(0);

    const second = await start({
      schedules: {
        weekly: { agent: 'reporter', everyMs: 604_800_000, task: { goal: 'weekly' } },
        daily: { ...schedules.daily, task: { goal: 'new goal' } },
      },
    });
    const after = (await second.call('GET', '/v1/schedules')).body.schedules as Schedule[];
    expect(after.map((s) => s.id)).to.deep.equal(['adhoc', 'daily', 'weekly']);
    const kept = after.find((s) => s.id === 'daily')!;
    expect(kept.task.goal).to.equal('new goal');
    expect(kept.paused, 'a pause made over the API outlives a restart').to.equal(true);
    expect(after.find((s) => s.id === 'adhoc')!.createdAt).to.equal(made.createdAt);

    const third = await Host.start(path, { schedules: {} }).catch((e) => e);
    hosts.push(third);
    expect(((await third.call('GET', '/v1/schedules')).body.schedules as Schedule[]).map((s) => s.id)).to.deep.equal([
      'adhoc',
    ]);
  });

  it('leaves schedules alone in a process with runScheduler off (what opspawn run sets): no upsert, no fire', async () => {
    const host = await start({
      tasks: { runScheduler: false, schedulePollMs: 200 },
      schedules: { often: { agent: 'reporter', everyMs: 1000, task: { goal: 'x', input: { plan: [], final: 'y' } } } },
    });
    expect((await host.call('GET', '/v1/schedules/often')).status).to.equal(404);
    const made = await host.create({ id: 'api-made', agent: 'reporter', everyMs: 1000, task: { goal: 'x' } });
    await sleep(1500);
    expect(await host.tasksOf(made.id)).to.deep.equal([]);
  });

  it('refuses a config whose schedules name an unknown agent, an invalid cron expression or time zone, naming each path', async () => {
    const logger = createLogger({ level: 'silent' });
    const error = await bootKernel({
      logger,
      config: config(join(dir, 'tasks.db'), {
        schedules: {
          a: { agent: 'ghost', everyMs: 5000, task: { goal: 'x' } },
          b: { cron: '* * *', task: { goal: 'x' } },
          c: { cron: '0 3 * * *', timezone: 'Nowhere/City', task: { goal: 'x' } },
          d: { everyMs: 5000, cron: '0 3 * * *', task: { goal: 'x' } },
        },
      }),
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(OpspawnProblems);
    const lines = (error as OpspawnProblems).problems
      .filter((p) => p.code === ErrorCodes.SCHEDULE_INVALID)
      .map((p) => p.message);
    expect(lines).to.have.length(4);
    expect(lines[0]).to.equal('schedules.a.agent: names no agent of this config; known agents: reporter, waiter');
    expect(lines[1]).to.match(/^schedules\.b\.cron: '\* \* \*' is not a cron expression/);
    expect(lines[2]).to.match(/^schedules\.c\.timezone: 'Nowhere\/City' is not an IANA time zone/);
    expect(lines[3]).to.equal('schedules.d.cron: give cron or everyMs, not both');
  });

  it('serves the same over gRPC: ScheduleService, INVALID_ARGUMENT naming a bad cron field, NOT_FOUND for an unknown id', async () => {
    const host = await start();
    const client = host.grpc();
    try {
      const made = await client.call('CreateSchedule', {
        id: 'over-grpc',
        agent: 'reporter',
        cron: '0 9 * * *',
        timezone: 'America/New_York',
        taskJson: JSON.stringify({ goal: 'standup', labels: { via: 'grpc' } }),
      });
      expect(made).to.include({ id: 'over-grpc', source: 'api', cron: '0 9 * * *', missed: 'skip', paused: false });
      expect(made.nextDueAt).to.match(/T1[34]:00:00\.000Z$/);
      expect(JSON.parse(made.taskJson)).to.deep.equal({ goal: 'standup', labels: { via: 'grpc' } });
      const changed = await client.call('UpdateSchedule', { id: 'over-grpc', everyMs: 7_200_000 });
      expect(changed).to.include({ everyMs: 7_200_000, cron: '', timezone: '' });
      expect((await client.call('PauseSchedule', { id: 'over-grpc' })).paused).to.equal(true);
      expect((await client.call('ListSchedules', {})).schedules.map((s: Schedule) => s.id)).to.deep.equal([
        'over-grpc',
      ]);

      const bad = await client.call('CreateSchedule', { cron: '0 25 * * *', taskJson: '{"goal":"x"}' }).catch((e) => e);
      expect(bad.code).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(bad.metadata.get('opspawn-code')).to.deep.equal([ErrorCodes.SCHEDULE_INVALID]);
      expect(bad.details).to.contain('cron');
      const zone = await client
        .call('CreateSchedule', { cron: '0 3 * * *', timezone: 'Atlantis/Capital', taskJson: '{"goal":"x"}' })
        .catch((e) => e);
      expect([zone.code, zone.details]).to.satisfy(
        ([code, details]: [number, string]) => code === grpc.status.INVALID_ARGUMENT && details.includes('timezone'),
      );
      const missing = await client.call('GetSchedule', { id: 'nope' }).catch((e) => e);
      expect(missing.code).to.equal(grpc.status.NOT_FOUND);
      await client.call('DeleteSchedule', { id: 'over-grpc' });
      expect((await client.call('ListSchedules', {})).schedules).to.deep.equal([]);
    } finally {
      client.close();
    }
  });

  it('opspawn schedules: create, list, pause; an invalid cron expression exits 2 naming the field', async () => {
    const host = await start();
    const env = { OPSPAWN_URL: host.url };
    const made = await runCli(
      ['schedules', 'create', '--id', 'cli-made', '--every', '3600000', '--goal', 'from the cli', '--label', 'via=cli'],
      { cwd: REPO, env },
    );
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stdout).to.match(/^cli-made next due \d{4}-/);
    const list = await runCli(['schedules', 'list'], { cwd: REPO, env });
    expect(list.stdout).to.match(/cli-made\s+api\s+active\s+every 3600000 ms/);
    const bad = await runCli(['schedules', 'create', '--cron', '* * nope * *', '--goal', 'x'], { cwd: REPO, env });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('OPSPAWN_SCHEDULE_INVALID');
    expect(bad.stderr).to.contain('  cron: ');
    const paused = await runCli(['schedules', 'pause', 'cli-made'], { cwd: REPO, env });
    expect(paused.stdout).to.equal('cli-made paused\n');
    const missing = await runCli(['schedules', 'get', 'nope'], { cwd: REPO, env });
    expect(missing.code, missing.stderr).to.equal(7);
    expect(missing.stderr).to.contain('OPSPAWN_SCHEDULE_NOT_FOUND');
    expect((await host.call('GET', '/v1/schedules/cli-made')).body.task.labels).to.deep.equal({ via: 'cli' });
  });
});
