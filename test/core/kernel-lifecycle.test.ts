import { expect } from 'chai';
import {
  ErrorCodes,
  createToken,
  type OpspawnError,
  type OpspawnProblems,
  definePlugin,
  extensionPoints,
  services,
  type InlinePlugin,
  type PluginEnv,
  type PluginKind,
} from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';

const greeting = createToken<{ hello(): string }>('test.greeting');

function inline(
  id: string,
  register: (env: PluginEnv<Record<string, unknown>>) => void,
  extra: { kinds?: PluginKind[]; requires?: Record<string, string> } = {},
): InlinePlugin {
  return {
    manifest: { id, version: '1.0.0', kinds: extra.kinds ?? [], kernel: '^1.0.0', requires: extra.requires },
    plugin: definePlugin({ register }),
  };
}

/** Records lifecycle steps in order. */
function journal() {
  const lines: string[] = [];
  return {
    lines,
    add: (l: string): void => {
      lines.push(l);
    },
  };
}

describe('kernel lifecycle', function () {
  it('starts a consumer only after the plugin providing its service, and stops in reverse', async () => {
    const j = journal();
    const kernel = await startTestKernel({
      plugins: [
        {
          use: inline('consumer', (env) =>
            env.registerInit({
              deps: { g: greeting },
              init: ({ g }) => {
                j.add(`consumer start: ${g.hello()}`);
                return () => j.add('consumer stop');
              },
            }),
          ),
        },
        {
          use: inline('provider', (env) =>
            env.provide(greeting, {
              create: () => {
                j.add('provider start');
                return { hello: () => 'hi' };
              },
              dispose: () => {
                j.add('provider stop');
              },
            }),
          ),
        },
      ],
    });
    await kernel.stop();
    expect(j.lines).to.deep.equal(['provider start', 'consumer start: hi', 'consumer stop', 'provider stop']);
  });

  it('starts independent plugins in parallel', async () => {
    // Each start waits for the other to have begun: this only finishes if both run at once.
    let aBegan!: () => void;
    let bBegan!: () => void;
    const a = new Promise<void>((r) => (aBegan = r));
    const b = new Promise<void>((r) => (bBegan = r));
    const kernel = await startTestKernel({
      kernel: { startTimeoutMs: 5000 },
      plugins: [
        {
          use: inline('left', (env) =>
            env.registerInit({
              init: async () => {
                aBegan();
                await b;
              },
            }),
          ),
        },
        {
          use: inline('right', (env) =>
            env.registerInit({
              init: async () => {
                bBegan();
                await a;
              },
            }),
          ),
        },
      ],
    });
    expect(kernel.plugins().map((p) => p.status)).to.deep.equal(['started', 'started']);
    await kernel.stop();
  });

  it('fails a plugin whose start exceeds its timeout, naming plugin and phase, and stops what had started', async () => {
    const j = journal();
    const error = await startTestKernel({
      plugins: [
        { use: inline('fine', (env) => env.registerInit({ init: () => () => j.add('fine stop') })) },
        {
          use: inline('sleepy', (env) =>
            env.registerInit({ deps: {}, init: () => new Promise<void>(() => undefined) }),
          ),
          startTimeoutMs: 50,
        },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as OpspawnError).code).to.equal(ErrorCodes.PLUGIN_START_TIMEOUT);
    expect(String(error)).to.equal(
      "OPSPAWN_PLUGIN_START_TIMEOUT: plugin 'sleepy' did not finish starting within 50 ms (fix: find what its start waits on, or give it longer: opspawn config set plugins.sleepy.startTimeoutMs 100)",
    );
    expect(j.lines).to.deep.equal(['fine stop']);
  });

  it("with onBootFailure 'abort' (the default) a failed start stops the boot", async () => {
    const error = await startTestKernel({
      plugins: [
        {
          use: inline('broken', (env) =>
            env.registerInit({
              init: () => {
                throw new Error('disk on fire');
              },
            }),
          ),
        },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).to.match(/^OPSPAWN_PLUGIN_START_FAILED: plugin 'broken' failed in start: disk on fire/);
    expect((error as OpspawnError).phase).to.equal('start');
  });

  it("with onBootFailure 'continue' the host boots without the plugin and reports it, and its dependents are skipped", async () => {
    const kernel = await startTestKernel({
      plugins: [
        {
          use: inline('broken', (env) =>
            env.provide(greeting, {
              create: () => {
                throw new Error('no greeting today');
              },
            }),
          ),
          onBootFailure: 'continue',
        },
        {
          use: inline('needs-greeting', (env) => env.registerInit({ deps: { g: greeting }, init: () => undefined })),
          onBootFailure: 'continue',
        },
        { use: inline('independent', (env) => env.registerInit({ init: () => undefined })) },
      ],
    });
    const byId = Object.fromEntries(kernel.plugins().map((p) => [p.id, p]));
    expect(byId.broken!.status).to.equal('failed');
    expect(byId.broken!.error).to.deep.include({ code: ErrorCodes.PLUGIN_START_FAILED, phase: 'start' });
    expect(byId['needs-greeting']!.status).to.equal('failed');
    expect(byId['needs-greeting']!.error!.message).to.contain("depends on 'broken', which failed");
    expect(byId.independent!.status).to.equal('started');
    const report = await kernel.get(services.health).report();
    expect(report.checks['plugin:broken']!.state).to.equal('degraded');
    expect(report.ready).to.equal(true);
    await kernel.stop();
  });

  it('a failed tool provider leaves the other tool providers to their consumers', async () => {
    const tools = (ns: string) => ({ namespace: ns, list: async () => [], call: async () => ({ output: null }) });
    let seen: string[] = [];
    const kernel = await startTestKernel({
      plugins: [
        {
          use: inline(
            'tools-bad',
            (env) =>
              env.provide(extensionPoints.toolProvider, {
                create: () => {
                  throw new Error('boom');
                },
              }),
            { kinds: ['tool-provider'] },
          ),
          onBootFailure: 'continue',
        },
        {
          use: inline(
            'tools-good',
            (env) => env.provide(extensionPoints.toolProvider, { create: () => tools('good') }),
            { kinds: ['tool-provider'] },
          ),
        },
        {
          use: inline('uses-tools', (env) =>
            env.registerInit({
              deps: { all: extensionPoints.toolProvider },
              init: ({ all }) => {
                seen = all.map((p) => p.plugin);
              },
            }),
          ),
        },
      ],
    });
    expect(seen).to.deep.equal(['tools-good']);
    await kernel.stop();
  });

  it('runs every stop even when one fails, and reports the failure', async () => {
    const j = journal();
    const kernel = await startTestKernel({
      plugins: [
        { use: inline('a', (env) => env.registerInit({ init: () => () => j.add('a stop') })) },
        {
          use: inline('b', (env) =>
            env.registerInit({
              init: () => () => {
                throw new Error('stuck');
              },
            }),
          ),
        },
        { use: inline('c', (env) => env.registerInit({ init: () => () => j.add('c stop') })) },
      ],
    });
    const error = await kernel.stop().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(j.lines).to.have.members(['a stop', 'c stop']);
    expect((error as Error).name).to.equal('OpspawnProblems');
    expect(String((error as OpspawnProblems).problems[0])).to.match(
      /^OPSPAWN_PLUGIN_STOP_FAILED: plugin 'b' failed in stop: stuck/,
    );
  });

  it('refuses, before starting anything, a plugin consuming a service nobody provides', async () => {
    const j = journal();
    const error = await startTestKernel({
      plugins: [
        { use: inline('early', (env) => env.registerInit({ init: () => j.add('early started') })) },
        { use: inline('lonely', (env) => env.registerInit({ deps: { g: greeting }, init: () => undefined })) },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).to.equal(
      "OPSPAWN_SERVICE_MISSING: plugin 'lonely' needs 'test.greeting', which nothing in this deployment provides (fix: add the plugin that provides it)",
    );
    expect(j.lines).to.deep.equal([]);
  });

  it('refuses a cycle between services, printed as a path', async () => {
    const other = createToken<string>('test.other');
    const error = await startTestKernel({
      plugins: [
        {
          use: inline('x', (env) => env.provide(greeting, { deps: { o: other }, create: () => ({ hello: () => '' }) })),
        },
        { use: inline('y', (env) => env.provide(other, { deps: { g: greeting }, create: () => 'y' })) },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).to.match(
      /^OPSPAWN_PLUGIN_CYCLE: plugins depend on each other's services in a cycle: (x -> y -> x|y -> x -> y)/,
    );
  });

  it('refuses a plugin providing an extension point its manifest does not declare', async () => {
    const error = await startTestKernel({
      plugins: [
        { use: inline('sneaky', (env) => env.provide(extensionPoints.store, { create: () => ({}) as never })) },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(error)).to.match(
      /^OPSPAWN_PLUGIN_UNDECLARED_KIND: plugin 'sneaky' provides 'opspawn.store' but its manifest does not list kind 'store'/,
    );
  });

  it('gives each plugin its own logger, validated options and child container', async () => {
    let seen: unknown;
    const kernel = await startTestKernel({
      plugins: [
        {
          use: {
            ...inline('opts', (env) =>
              env.registerInit({
                deps: { cfg: services.pluginConfig, log: services.logger },
                init: ({ cfg, log }, ctx) => {
                  seen = {
                    cfg,
                    sameContainerValue: ctx.container.resolve(services.pluginConfig.id) === cfg,
                    hasLog: typeof log.info === 'function',
                  };
                },
              }),
            ),
            manifest: {
              id: 'opts',
              version: '1.0.0',
              kinds: [],
              kernel: '^1.0.0',
              configSchema: { type: 'object', properties: { n: { type: 'integer', default: 7 } } },
            },
          },
          options: {},
        },
      ],
    });
    expect(seen).to.deep.equal({ cfg: { n: 7 }, sameContainerValue: true, hasLog: true });
    await kernel.stop();
  });

  it('aggregates readiness from the health() of provided values', async () => {
    let state: 'ok' | 'down' = 'ok';
    const kernel = await startTestKernel({
      plugins: [
        {
          use: inline('db', (env) =>
            env.provide(greeting, { create: () => ({ hello: () => 'x', health: () => ({ state }) }) }),
          ),
        },
      ],
    });
    const health = kernel.get(services.health);
    expect((await health.report()).ready).to.equal(true);
    state = 'down';
    const report = await health.report();
    expect(report.ready).to.equal(false);
    expect(report.checks['db:test.greeting']).to.deep.equal({ state: 'down' });
    await kernel.stop();
  });
});
