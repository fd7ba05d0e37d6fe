import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Deployment } from '../helpers/deployment.js';

const TOOLS_DIR = join(process.cwd(), 'config', 'tools');

/** `opspawn agents`, `config check`, `run --agent` and `tasks submit --agent`, as a user runs them. */
describe('opspawn agents (the CLI)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let host: ChildProcess | undefined;
  let url: string;

  before(() => {
    d = new Deployment();
    for (const id of [
      'store-sqlite',
      'broker-memory',
      'memory-buffer',
      'planner-scripted',
      'tools-quickjs',
      'transport-rest',
    ])
      d.linkBuiltIn(id);
    d.config(`{
      plugins: [{ use: '@opspawn/store-sqlite', options: { path: './tasks.db' } }, '@opspawn/broker-memory',
        '@opspawn/memory-buffer', '@opspawn/planner-scripted',
        { use: '@opspawn/tools-quickjs', options: { dirs: [${JSON.stringify(TOOLS_DIR)}] } },
        { use: '@opspawn/transport-rest', options: { port: 0, apiKeys: [{ key: 'cli-key', name: 'cli', scopes: ['admin'] }] } }],
      agents: {
        calculator: { description: 'calculates', tools: ['js__calculate'], limits: { maxSteps: 3 },
          options: { model: 'm', apiKey: 'sk-secret' }, instructions: 'Compute: {{ goal }}' },
        stray: { tools: ['js__text_*', 'mcp__github__*'] },
      },
      log: { level: 'silent' },
    }`);
    d.config(
      `{ plugins: ['@opspawn/store-sqlite', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'],
         agents: { odd: { tools: ['js__calculate', 'not a glob'] } } }`,
      'bad.config.ts',
    );
    writeFileSync(
      join(d.dir, 'count.json'),
      JSON.stringify({
        goal: 'count',
        input: { plan: [{ tool: 'js__text_stats', arguments: { text: 'two words' } }] },
      }),
    );
    writeFileSync(
      join(d.dir, 'calc.json'),
      JSON.stringify({
        goal: 'calc',
        input: {
          plan: [{ tool: 'js__calculate', arguments: { expression: '6 * 7' } }],
          final: '{{ last.output.value }}',
        },
      }),
    );
  });
  after(async () => {
    if (host) {
      host.kill('SIGTERM');
      await new Promise((r) => host!.once('exit', r));
    }
    d.cleanup();
  });

  it('lists the agents, with --json for scripts', async () => {
    const human = await d.run(['agents', 'list']);
    expect(human.code, human.stderr).to.equal(0);
    expect(human.stdout.split('\n')[0]).to.match(/^ID\s+PLANNER\s+MEMORY\s+TOOLS\s+DESCRIPTION$/);
    expect(human.stdout).to.match(/calculator\s+planner-scripted\s+memory-buffer\s+js__calculate\s+calculates/);
    const json = JSON.parse((await d.run(['agents', 'list', '--json'])).stdout);
    expect(json.agents.map((a: any) => a.id)).to.deep.equal(['calculator', 'stray']);
    expect(json.agents[0]).to.not.have.property('options');
  });

  it('inspects an agent: what each pattern matches, a pattern matching no tool by its path, secrets hidden', async () => {
    const calc = JSON.parse((await d.run(['agents', 'inspect', 'calculator', '--json'])).stdout);
    expect(calc.patterns).to.deep.equal([
      { path: 'agents.calculator.tools[0]', pattern: 'js__calculate', matches: ['js__calculate'] },
    ]);
    expect(calc.options).to.deep.equal({ model: 'm', apiKey: '(redacted)' });
    expect(calc.instructions).to.equal('Compute: {{ goal }}');
    const stray = await d.run(['agents', 'inspect', 'stray']);
    expect(stray.code, stray.stderr).to.equal(0);
    expect(stray.stdout).to.contain('js__text_* → js__text_stats');
    expect(stray.stdout).to.contain('mcp__github__* → matches no tool (agents.stray.tools[1])');
    expect(stray.stderr).to.contain("warning agents.stray.tools[1]: 'mcp__github__*' matches no tool");
  });

  it('refuses to inspect an unknown agent, naming the known ones (exit 7)', async () => {
    const r = await d.run(['agents', 'inspect', 'nobody']);
    expect(r.code).to.equal(7);
    expect(r.stderr).to.match(/OPSPAWN_AGENT_NOT_FOUND: no agent 'nobody'.*calculator, stray/);
  });

  it('names the agents in the config check summary', async () => {
    const r = await d.run(['config', 'check', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.include({ agents: ['calculator', 'stray'], defaultAgent: null });
  });

  it('reports a tool pattern that is not a name or glob at config check, with its path (exit 3)', async () => {
    const r = await d.run(['--config', 'bad.config.ts', 'config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain('OPSPAWN_CONFIG_INVALID: agents.odd.tools[1]: must match pattern');
  });

  it('reports an unknown planner and defaultAgent at config check once the shape is right', async () => {
    d.config(
      `{ plugins: ['@opspawn/store-sqlite', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'],
         agents: { bad: { planner: 'planner-gone', tools: ['js__calculate'] } }, defaultAgent: 'ghost' }`,
      'bad2.config.ts',
    );
    const r = await d.run(['--config', 'bad2.config.ts', 'config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.match(/OPSPAWN_AGENT_INVALID: agents\.bad\.planner: .*'planner-gone'.*planner-scripted/);
    expect(r.stderr).to.match(/OPSPAWN_AGENT_INVALID: defaultAgent: .*'ghost'/);
  });

  it('refuses agents that hand off in a cycle at config check, with the path, a glob matching the agent itself included', async () => {
    d.config(
      `{ plugins: ['@opspawn/store-sqlite', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted'],
         agents: {
           lead: { tools: ['js__calculate', 'agents__review'] },
           review: { tools: ['agents__lead'] },
           solo: { tools: ['agents__s*'] },
           typo: { tools: ['agents__reviewer'] },
         } }`,
      'cycle.config.ts',
    );
    const r = await d.run(['--config', 'cycle.config.ts', 'config', 'check']);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain(
      'OPSPAWN_AGENT_HANDOFF_CYCLE: agents.lead.tools[1]: agents hand off in a cycle: lead -> review -> lead',
    );
    expect(r.stderr).to.contain(
      'OPSPAWN_AGENT_HANDOFF_CYCLE: agents.solo.tools[0]: agents hand off in a cycle: solo -> solo',
    );
    expect(r.stderr).to.contain("OPSPAWN_AGENT_INVALID: agents.typo.tools[0]: 'agents__reviewer' matches no agent");
  });

  it('runs a task with run --agent: an out-of-scope call is refused and recorded, an unknown agent named', async () => {
    const refused = await d.run(['run', 'count.json', '--agent', 'calculator']);
    expect(refused.code).to.equal(10);
    expect(refused.stdout).to.match(/✗ js__text_stats OPSPAWN_TOOL_OUT_OF_SCOPE: .*agent 'calculator'/);
    const ok = await d.run(['run', 'calc.json', '--agent', 'calculator']);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain('= 42');
    const unknown = await d.run(['run', 'calc.json', '--agent', 'nobody']);
    expect(unknown.code).to.equal(7);
    expect(unknown.stderr).to.match(/OPSPAWN_AGENT_NOT_FOUND.*calculator, stray/);
  });

  it('submits to a running host with tasks submit --agent', async () => {
    ({ host, url } = await d.start());
    const env = { env: { OPSPAWN_URL: url, OPSPAWN_TOKEN: 'cli-key' } };
    const ok = await d.run(['tasks', 'submit', 'calc.json', '--agent', 'calculator', '--json'], env);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.include({ agent: 'calculator', maxSteps: 3 });
    const unknown = await d.run(['tasks', 'submit', 'calc.json', '--agent', 'nobody'], env);
    expect(unknown.code).to.equal(7);
    expect(unknown.stderr).to.match(/OPSPAWN_AGENT_NOT_FOUND.*calculator, stray/);
  });
});
