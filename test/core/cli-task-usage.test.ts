import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { API_KEY, MessagesServer, text } from '../plugins/planner-anthropic/messages-server.js';
import { Deployment } from '../helpers/deployment.js';

/** `opspawn tasks get` shows what a task's LLM calls used, read from a host whose planner is an LLM's. */
describe('opspawn tasks get: token usage', function () {
  this.timeout(60_000);
  const llm = new MessagesServer();
  let d: Deployment;
  let host: ChildProcess;
  let url: string;

  before(async () => {
    await llm.start();
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'planner-anthropic', 'transport-rest'])
      d.linkBuiltIn(id);
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer',
        { use: '@opspawn/planner-anthropic', options: { baseURL: '${llm.url}', apiKey: '\${ANTHROPIC_API_KEY}', maxRetries: 0 } },
        { use: '@opspawn/transport-rest', options: { port: 0, apiKeys: [{ key: 'cli-key', name: 'cli', scopes: ['admin'] }] } }],
      planner: 'planner-anthropic',
      log: { level: 'silent' },
    }`);
    ({ host, url } = await d.start({ ANTHROPIC_API_KEY: API_KEY }));
  });
  after(async () => {
    host?.kill('SIGTERM');
    if (host) await new Promise((r) => host.once('exit', r));
    d?.cleanup();
    await llm.stop();
  });

  const cli = (args: string[]) => d.run(['tasks', ...args], { env: { OPSPAWN_URL: url, OPSPAWN_TOKEN: 'cli-key' } });

  it('prints the tokens in and out and the LLM calls; --json carries them as usage', async () => {
    llm.script({
      blocks: [text('Hello ', 'there.')],
      usage: { input_tokens: 1200, output_tokens: 34, cache_read_input_tokens: 800 },
    });
    writeFileSync(join(d.dir, 'hello.json'), JSON.stringify({ goal: 'say hello' }));
    const submitted = await cli(['submit', 'hello.json', '--wait']);
    expect(submitted.code, submitted.stderr + submitted.stdout).to.equal(0);
    const id = /^(task_\w{26})/.exec(submitted.stdout)![1]!;
    const human = await cli(['get', id]);
    expect(human.stdout).to.contain('  output:  "Hello there."\n');
    expect(human.stdout).to.contain('  usage:   2,000 tokens in, 34 out, 1 LLM call\n');
    const json = JSON.parse((await cli(['get', id, '--json'])).stdout);
    expect(json.usage).to.deep.equal({ inputTokens: 2000, outputTokens: 34, llmCalls: 1 });
  });
});
