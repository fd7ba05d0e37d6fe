import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { Deployment } from '../../helpers/deployment.js';
import { callContext, fixture, processIsGone, proxyOptions, recordingLogger } from './proxy-under-test.js';

/** A stdio server started through a shell wrapper that leaves `sleep 1000` running in the background. */
const wrappedServer = (pidFile: string) => ({
  transport: 'stdio' as const,
  command: '/bin/sh',
  args: [fixture('wrapper-with-background-sleep.sh'), pidFile, process.execPath, fixture('moody-server.mjs')],
});

async function until(check: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !check(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
  }
}

describe('mcp-proxy stdio server processes', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'opspawn-mcp-group-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stops everything a server started when the provider closes', async () => {
    const pidFile = join(dir, 'sleep.pid');
    const proxy = new McpProxyToolProvider(proxyOptions({ wrapped: wrappedServer(pidFile) }), recordingLogger());
    await proxy.start();
    const answer = await proxy.call(
      'call',
      { server: 'wrapped', tool: 'ok', arguments: { text: 'hi' } },
      callContext(),
    );
    expect(answer).to.deep.equal({ output: 'ok: hi' });
    const sleepPid = Number(readFileSync(pidFile, 'utf8'));
    expect(processIsGone(sleepPid)).to.equal(false);
    await proxy.close();
    // The group was signalled before close resolved; on a loaded machine the kernel may take a moment to end it.
    await until(() => processIsGone(sleepPid), `sleep (pid ${sleepPid}) to stop after the provider closed`);
  });

  it('stops what is left of its servers when the host exits without closing the provider', async () => {
    const pidFile = join(dir, 'sleep.pid');
    const host = execFileSync(
      process.execPath,
      [fixture('host-that-exits.mjs'), JSON.stringify(wrappedServer(pidFile))],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(host.trim()).to.equal('ok');
    const sleepPid = Number(readFileSync(pidFile, 'utf8'));
    await until(() => processIsGone(sleepPid), `sleep (pid ${sleepPid}) to stop after its host exited`);
  });

  it('lets `opspawn run` exit when its task used a server whose wrapper started a background process', async () => {
    const d = new Deployment();
    try {
      const pidFile = join(d.dir, 'sleep.pid');
      for (const id of ['store-memory', 'broker-memory', 'memory-buffer', 'planner-scripted', 'mcp-proxy'])
        d.linkBuiltIn(id);
      d.config(
        `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', { use: '@opspawn/mcp-proxy', options: { servers: { wrapped: ${JSON.stringify(wrappedServer(pidFile))} } } }] }`,
      );
      const plan = [{ tool: 'mcp__call', arguments: { server: 'wrapped', tool: 'ok', arguments: { text: 'done' } } }];
      writeFileSync(join(d.dir, 'task.json'), JSON.stringify({ goal: 'use a wrapped server', input: { plan } }));
      const r = await d.run(['run', 'task.json'], { timeoutMs: 45_000 });
      expect(r.signal, 'opspawn run did not exit by itself').to.equal(null);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('= ok: done');
      const sleepPid = Number(readFileSync(pidFile, 'utf8'));
      await until(() => processIsGone(sleepPid), `sleep (pid ${sleepPid}) to stop after opspawn run exited`);
    } finally {
      d.cleanup();
    }
  });
});
