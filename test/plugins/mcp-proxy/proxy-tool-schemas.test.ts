import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { services } from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';
import { Deployment } from '../../helpers/deployment.js';
import { fixture } from './proxy-under-test.js';

const warnings = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((entry) => entry.level >= 40)
    .map((entry) => entry.msg);

describe('mcp-proxy tool schemas', function () {
  this.timeout(60_000);

  it('boots and runs a task with no servers configured (the default deployment) without a warning', async () => {
    const d = new Deployment();
    try {
      for (const id of ['store-memory', 'broker-memory', 'memory-buffer', 'planner-scripted', 'mcp-proxy'])
        d.linkBuiltIn(id);
      d.config(
        `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', { use: '@opspawn/mcp-proxy', options: { servers: {} } }] }`,
      );
      writeFileSync(
        join(d.dir, 'task.json'),
        JSON.stringify({ goal: 'list MCP servers', input: { plan: [{ tool: 'mcp__list', arguments: {} }] } }),
      );
      const r = await d.run(['run', 'task.json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('= []');
      expect(warnings(r.stderr)).to.deep.equal([]);
    } finally {
      d.cleanup();
    }
  });

  it('refuses a call naming an unknown server with a coded error naming the known servers', async () => {
    const kernel = await startTestKernel({
      plugins: [
        '@opspawn/store-memory',
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        {
          use: '@opspawn/mcp-proxy',
          options: {
            servers: {
              moody: { transport: 'stdio', command: process.execPath, args: [fixture('moody-server.mjs')] },
              calm: { transport: 'stdio', command: process.execPath, args: [fixture('moody-server.mjs')] },
            },
          },
        },
      ],
    });
    try {
      const tools = kernel.get(services.toolRegistry);
      const refused = await tools.call(
        'mcp__call',
        { server: 'weather', tool: 'forecast' },
        { signal: new AbortController().signal, log: () => undefined },
      );
      expect(refused.ok).to.equal(false);
      if (refused.ok) return;
      expect(refused.error.code).to.equal('OPSPAWN_TOOL_INVALID_ARGUMENTS');
      expect(refused.error.message).to.contain('"moody", "calm"');
    } finally {
      await kernel.stop();
    }
  });
});
