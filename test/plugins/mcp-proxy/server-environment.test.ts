import { expect } from 'chai';
import { McpProxyToolProvider } from '@opspawn/mcp-proxy';
import { callContext, fixture, proxyOptions, recordingLogger } from './proxy-under-test.js';

/** The environment the fixture server reports through its `environment` tool. */
async function environmentOf(proxy: McpProxyToolProvider, server: string): Promise<Record<string, string>> {
  const result = await proxy.call('call', { server, tool: 'environment' }, callContext());
  expect(result.isError, JSON.stringify(result.output)).to.equal(undefined);
  return JSON.parse(result.output as string);
}

describe('mcp-proxy stdio server environment', function () {
  this.timeout(30_000);
  let proxy: McpProxyToolProvider;

  before(async () => {
    process.env.OPSPAWN_TEST_DATABASE_PASSWORD = 'hunter2';
    process.env.OPSPAWN_TEST_REGION = 'eu-west-1';
    const env = { transport: 'stdio' as const, command: process.execPath, args: [fixture('env-server.mjs')] };
    proxy = new McpProxyToolProvider(
      proxyOptions({
        plain: { ...env, env: { GREETING: 'hello' } },
        named: { ...env, inheritEnv: ['OPSPAWN_TEST_REGION'] },
        everything: { ...env, inheritEnv: true },
      }),
      recordingLogger(),
    );
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    delete process.env.OPSPAWN_TEST_DATABASE_PASSWORD;
    delete process.env.OPSPAWN_TEST_REGION;
  });

  it("gives a server the SDK's safe variables and its own env, and none of the host's secrets", async () => {
    const env = await environmentOf(proxy, 'plain');
    expect(env).to.include({ GREETING: 'hello', PATH: process.env.PATH });
    expect(env).to.not.have.property('OPSPAWN_TEST_DATABASE_PASSWORD');
    expect(env).to.not.have.property('OPSPAWN_TEST_REGION');
  });

  it('passes the host variables inheritEnv names, and all of them with inheritEnv: true', async () => {
    const named = await environmentOf(proxy, 'named');
    expect(named).to.include({ OPSPAWN_TEST_REGION: 'eu-west-1' });
    expect(named).to.not.have.property('OPSPAWN_TEST_DATABASE_PASSWORD');
    expect(await environmentOf(proxy, 'everything')).to.include({ OPSPAWN_TEST_DATABASE_PASSWORD: 'hunter2' });
  });
});
