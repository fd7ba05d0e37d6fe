import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLI, Deployment, REPO, runCli } from '../helpers/deployment.js';
import { NPM_ENV, sh } from '../helpers/npm-sandbox.js';

/** A deployment as a user writes it: object entries, bare strings, comments, double quotes nowhere. */
const CONFIG = `// Our host. Keep this comment.
import { defineConfig } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    { use: '@opspawn/store-sqlite', options: { path: './data/tasks.db' } }, // the store
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',
    '@opspawn/planner-scripted',
  ],
  log: { level: 'warn' }, // quiet
});
`;

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error '));

/** The CLI sets what a hand edit used to: config values, the default of a kind, and says so when refusing. */
describe('opspawn config set/get/unset and plugins use', function () {
  let d: Deployment;
  const config = () => readFileSync(join(d.dir, 'opspawn.config.ts'), 'utf8');

  beforeEach(() => {
    d = new Deployment();
    for (const id of ['store-sqlite', 'broker-memory', 'memory-buffer', 'memory-redis', 'planner-scripted'])
      d.linkBuiltIn(id);
    d.file('opspawn.config.ts', CONFIG);
  });
  afterEach(() => d.cleanup());

  it('sets, reads and unsets values in place, keeping every comment and line around them', async () => {
    expect((await d.run(['config', 'get', 'log.level'])).stdout).to.equal('warn\n');
    expect((await d.run(['config', 'get', 'plugins.store-sqlite.options.path'])).stdout).to.equal('./data/tasks.db\n');
    for (const [path, value] of [
      ['log.level', 'debug'],
      ['tasks.concurrency', '4'],
      ['plugins.broker-memory.options.maxRedeliveries', '3'],
      ['plugins.store-sqlite.options.path', './db/tasks.db'],
    ]) {
      const r = await d.run(['config', 'set', path!, value!]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^set ${path!.replaceAll('.', '\\.')} to .* in .*opspawn\\.config\\.ts`));
    }
    expect(config()).to.equal(
      CONFIG.replace("level: 'warn'", "level: 'debug'")
        .replace('./data/tasks.db', './db/tasks.db')
        .replace(
          "    '@opspawn/broker-memory',",
          "    { use: '@opspawn/broker-memory', options: { maxRedeliveries: 3 } },",
        )
        .replace(
          "  log: { level: 'debug' }, // quiet\n",
          "  log: { level: 'debug' }, // quiet\n  tasks: { concurrency: 4 },\n",
        ),
    );
    expect(JSON.parse((await d.run(['config', 'get', 'tasks', '--json'])).stdout).value).to.deep.equal({
      concurrency: 4,
    });
    const unset = await d.run(['config', 'unset', 'tasks']);
    expect(unset.code, unset.stderr).to.equal(0);
    expect(config()).to.not.contain('tasks:');
    expect(config()).to.contain("  log: { level: 'debug' }, // quiet\n});\n");
  });

  it('refuses a value the config check rejects, naming the path and why, with the file untouched', async () => {
    const bad = await d.run(['config', 'set', 'log.level', 'loud']);
    expect(bad.code).to.equal(3);
    expect(errorLines(bad.stderr)).to.deep.equal([
      'error OPSPAWN_CONFIG_INVALID: log.level: must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent" (fix: opspawn config set log.level <value> (see docs/reference/config.md))',
    ]);
    const option = await d.run(['config', 'set', 'plugins.store-sqlite.options.busyTimeoutMs', '"soon"']);
    expect(option.code).to.equal(4);
    expect(errorLines(option.stderr)[0]).to.match(
      /^error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins\[0\] \(store-sqlite\) options\.busyTimeoutMs: must be integer/,
    );
    const nowhere = await d.run(['config', 'set', 'plugins.nope.options.x', '1']);
    expect(nowhere.code).to.equal(3);
    expect(errorLines(nowhere.stderr)[0]).to.match(
      /^error OPSPAWN_CONFIG_PATH_INVALID: plugins\.nope\.options\.x: no plugin 'nope'/,
    );
    const malformed = await d.run(['config', 'set', 'log..level', 'x']);
    expect(errorLines(malformed.stderr)[0]).to.match(
      /^error OPSPAWN_CONFIG_PATH_INVALID: 'log\.\.level' is not a config path/,
    );
    expect(config()).to.equal(CONFIG);
    expect(existsSync(join(d.dir, 'opspawn.config.ts.bak'))).to.equal(false);
  });

  it('adds a second memory without a hand edit: the default stays, plugins use moves it, disable passes it on', async () => {
    const added = await d.run([
      'plugins',
      'add',
      './node_modules/@opspawn/memory-redis',
      '--option',
      'url=redis://127.0.0.1:6379',
    ]);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stderr).to.contain(
      "'memory-buffer' stays the default memory (memory: 'memory-buffer' is now in the config); opspawn plugins use memory-redis --as memory makes 'memory-redis' the default memory",
    );
    expect(config()).to.contain("  ],\n  memory: 'memory-buffer',\n  log:");

    const used = await d.run(['plugins', 'use', 'memory-redis', '--as', 'memory']);
    expect(used.code, used.stderr).to.equal(0);
    expect(used.stdout).to.match(/^made plugin 'memory-redis' the default memory \(was 'memory-buffer'\) in /);
    expect(config()).to.contain("  memory: 'memory-redis',\n");

    const back = await d.run(['plugins', 'use', 'memory-buffer', '--as', 'memory']);
    expect(back.code, back.stderr).to.equal(0);
    const off = await d.run(['plugins', 'disable', 'memory-buffer']);
    expect(off.code, off.stderr).to.equal(0);
    expect(off.stderr).to.contain("'memory-redis' is now the default memory (was 'memory-buffer')");
    expect(config()).to.contain("    { use: '@opspawn/memory-buffer', enabled: false },\n");
    expect(config()).to.contain("  memory: 'memory-redis',\n");
    const check = await d.run(['config', 'check', '--json']);
    expect(JSON.parse(check.stdout).chosen).to.deep.include({ memory: 'memory-redis', store: 'store-sqlite' });
  });

  it('refuses plugins use for a plugin that does not provide the kind, or is disabled, with a coded error', async () => {
    const wrong = await d.run(['plugins', 'use', 'memory-buffer', '--as', 'store']);
    expect(wrong.code).to.equal(4);
    expect(errorLines(wrong.stderr)).to.deep.equal([
      "error OPSPAWN_KIND_CHOICE_INVALID: plugin 'memory-buffer' does not provide kind 'store' (it provides: memory) (fix: opspawn plugins use store-sqlite --as store (enabled stores: store-sqlite))",
    ]);
    const unknown = await d.run(['plugins', 'use', 'nope', '--as', 'memory']);
    expect(errorLines(unknown.stderr)[0]).to.match(/^error OPSPAWN_PLUGIN_NOT_FOUND: no plugin 'nope'/);
    const usage = await d.run(['plugins', 'use', 'memory-buffer', '--as', 'queue']);
    expect(usage.code).to.equal(2);
    expect(config()).to.equal(CONFIG);
  });

  it('names the command instead of a hand edit when two providers of a kind are ambiguous', async () => {
    d.file(
      'opspawn.config.ts',
      CONFIG.replace(
        "    '@opspawn/memory-buffer',\n",
        "    '@opspawn/memory-buffer',\n    { use: '@opspawn/memory-redis', options: { url: 'redis://127.0.0.1:6379' } },\n",
      ),
    );
    const r = await d.run(['config', 'check']);
    expect(errorLines(r.stderr)).to.deep.equal([
      "error OPSPAWN_KIND_AMBIGUOUS: plugins 'memory-buffer' and 'memory-redis' all provide kind 'memory' and one must be the default (fix: choose one: opspawn plugins use memory-buffer --as memory)",
    ]);
    const fixed = await d.run(['plugins', 'use', 'memory-buffer', '--as', 'memory']);
    expect(fixed.code, fixed.stderr).to.equal(0);
    expect((await d.run(['config', 'check'])).code).to.equal(0);
  });
});

describe('a deployment without a store or a broker', function () {
  let d: Deployment;
  beforeEach(() => {
    d = new Deployment();
    for (const id of ['store-sqlite', 'memory-buffer', 'planner-scripted']) d.linkBuiltIn(id);
    d.config(
      `{ plugins: [{ use: '@opspawn/store-sqlite', enabled: false }, '@opspawn/memory-buffer', '@opspawn/planner-scripted'] }`,
    );
    writeFileSync(join(d.dir, 'task.json'), JSON.stringify({ goal: 'g', input: { plan: [], final: 1 } }));
  });
  afterEach(() => d.cleanup());

  const LINE =
    'error OPSPAWN_KIND_MISSING: this deployment has no enabled store and no broker, so it cannot run tasks (fix: opspawn plugins enable store-sqlite && opspawn plugins add @opspawn/broker-memory)\n';

  it('is told at config check, in one line, which kinds are missing and the commands that add them', async () => {
    const r = await d.run(['config', 'check']);
    expect(r.code).to.equal(4);
    expect(r.stderr).to.equal(LINE);
  });

  it('takes the commands of the fix one at a time, then runs tasks', async () => {
    d.linkBuiltIn('broker-memory');
    for (const args of [
      ['plugins', 'enable', 'store-sqlite'],
      ['plugins', 'add', './node_modules/@opspawn/broker-memory'],
    ]) {
      const r = await d.run(args);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).to.equal(0);
    }
    expect((await d.run(['config', 'check'])).code).to.equal(0);
    const r = await d.run(['run', 'task.json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('• succeeded');
  });

  it('gets the same line at run and start instead of a missing task service', async () => {
    for (const args of [['run', 'task.json'], ['start']]) {
      const r = await d.run(args);
      expect(r.code, args[0]).to.equal(4);
      expect(r.stderr, args[0]).to.equal(LINE);
    }
  });
});

describe('opspawn plugins add: progress, formatting, and bad input', function () {
  this.timeout(120_000);
  let d: Deployment;
  let packs: string;
  const config = () => readFileSync(join(d.dir, 'opspawn.config.ts'), 'utf8');

  /** A plugin packed with npm pack, as a user would publish it. */
  const pack = async (id: string, configSchema?: Record<string, unknown>): Promise<string> => {
    const dir = join(packs, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: `opspawn-plugin-${id}`,
        version: '1.0.0',
        type: 'module',
        main: 'index.js',
        peerDependencies: { '@opspawn/plugin-sdk': '*' },
        opspawn: { id, kinds: ['tool-provider'], kernel: '^1.0.0', configSchema },
      }),
    );
    writeFileSync(
      join(dir, 'index.js'),
      "import { definePlugin } from '@opspawn/plugin-sdk';\nexport default definePlugin({ register() {} });\n",
    );
    const r = await sh('npm', ['pack', '--silent', '--pack-destination', packs], dir);
    expect(r.code, r.stderr).to.equal(0);
    return join(packs, r.stdout.trim().split('\n').pop()!);
  };

  before(() => (packs = mkdtempSync(join(tmpdir(), 'opspawn-packs-'))));
  after(() => rmSync(packs, { recursive: true, force: true }));
  beforeEach(() => {
    d = new Deployment();
    d.file('package.json', '{ "name": "host", "private": true, "type": "module" }\n');
  });
  afterEach(() => d.cleanup());

  it('writes two new entries as the file writes its own, and shows npm progress on stderr with --json clean', async () => {
    const tabbed = `import { defineConfig } from "@opspawn/plugin-sdk";

export default defineConfig({
\tplugins: [
\t\t{ use: "./vendor/base" },
\t\t"./vendor/extra",
\t],
});
`;
    d.plugin({ id: 'base', dir: 'vendor/base' })
      .plugin({ id: 'extra', dir: 'vendor/extra' })
      .file('opspawn.config.ts', tabbed);
    const first = await pack('weather', { type: 'object', properties: { units: { type: 'string' } } });
    const second = await pack('clock');
    const a = await d.run(['plugins', 'add', first, '--option', 'units=metric', '--json'], {
      env: NPM_ENV,
      timeoutMs: 60_000,
    });
    expect(a.code, a.stderr).to.equal(0);
    expect(JSON.parse(a.stdout)).to.deep.include({ ok: true, plugin: 'weather' });
    expect(a.stderr).to.match(/^installing .*weather-1\.0\.0\.tgz with npm…\n/);
    expect(a.stderr).to.match(/with npm: done after \d+\.\d s\n/);
    const b = await d.run(['plugins', 'add', second], { env: NPM_ENV, timeoutMs: 60_000 });
    expect(b.code, b.stderr).to.equal(0);
    expect(config()).to.equal(`import { defineConfig } from "@opspawn/plugin-sdk";

export default defineConfig({
\tplugins: [
\t\t{ use: "./vendor/base" },
\t\t"./vendor/extra",
\t\t{ use: "opspawn-plugin-weather", options: { units: "metric" } },
\t\t"opspawn-plugin-clock",
\t],
});
`);
  });

  it('draws a spinner with the seconds in place while npm works, on a terminal', async () => {
    d.config('{ plugins: [] }');
    const tarball = await pack('ticker');
    // `script` gives the CLI a pseudo-terminal, as a user's shell does.
    const r = await sh('script', ['-qec', `${process.execPath} ${CLI} plugins add ${tarball}`, '/dev/null'], d.dir);
    expect(r.code, r.stdout).to.equal(0);
    // Each frame goes back to the line's start and clears it (\r, ESC [2K), then draws.
    const redraws = r.stdout.split('\r\u001b[2K').slice(1);
    expect(redraws[0]).to.match(/^⠋ installing \S+ticker-1\.0\.0\.tgz with npm… \d+\.\d s$/);
    expect(redraws.at(-1)).to.match(/^installing \S+ticker-1\.0\.0\.tgz with npm: done after \d+\.\d s\r?\n/);
    expect(r.stdout).to.contain("added plugin 'ticker' 1.0.0 (opspawn-plugin-ticker)");
  });

  it('suggests --option key=value for a required option the command line left out', async () => {
    d.config('{ plugins: [] }');
    const tarball = await pack('needy', {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', description: 'where it reports' } },
    });
    const r = await d.run(['plugins', 'add', tarball], { env: NPM_ENV, timeoutMs: 60_000 });
    expect(r.code).to.equal(4);
    expect(errorLines(r.stderr)).to.deep.equal([
      `error OPSPAWN_PLUGIN_OPTIONS_INVALID: plugins[0] (needy) options.url: is required (fix: give it on the command line: opspawn plugins add ${tarball} --option url=<string: where it reports>)`,
    ]);
    expect(config()).to.equal(
      "import { defineConfig } from '@opspawn/plugin-sdk';\n\nexport default defineConfig({ plugins: [] });\n",
    );
  });

  it('answers a name the registry does not have with one line and a non-zero exit', async () => {
    d.config('{ plugins: [] }');
    const registry: Server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"Not found"}');
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;
    try {
      const r = await d.run(['plugins', 'add', '@acme/opspawn-nothing'], {
        env: { ...NPM_ENV, npm_config_registry: url, 'npm_config_@acme:registry': url },
        timeoutMs: 60_000,
      });
      expect(r.code).to.equal(4);
      expect(errorLines(r.stderr)).to.deep.equal([
        `error OPSPAWN_PLUGIN_NOT_FOUND: no package '@acme/opspawn-nothing' in the npm registry ${url} (fix: check the name and version (npm view @acme/opspawn-nothing versions), and which registry npm uses (npm config get registry))`,
      ]);
      expect(r.stderr).to.not.match(/npm (error|ERR!)/);
      expect(r.stdout).to.equal('');
    } finally {
      registry.close();
    }
  });
});

describe('relative paths in plugin options', function () {
  this.timeout(60_000);
  let d: Deployment;
  let elsewhere: string;
  beforeEach(() => {
    d = new Deployment();
    for (const id of [
      'store-sqlite',
      'broker-memory',
      'memory-buffer',
      'planner-scripted',
      'tools-quickjs',
      'mcp-proxy',
    ])
      d.linkBuiltIn(id);
    mkdirSync(join(d.dir, 'tools'));
    copyFileSync(join(REPO, 'config/tools/calculate.js'), join(d.dir, 'tools/calculate.js'));
    // An MCP server beside the config, started by a relative path; it answers with the folder it runs in.
    symlinkSync(join(REPO, 'node_modules/@modelcontextprotocol'), join(d.dir, 'node_modules/@modelcontextprotocol'));
    d.file(
      'servers/where.mjs',
      `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
const server = new McpServer({ name: 'where', version: '1.0.0' });
server.registerTool('cwd', { description: 'the folder it runs in' }, async () => ({ content: [{ type: 'text', text: process.cwd() }] }));
await server.connect(new StdioServerTransport());
`,
    );
    const mcp = {
      servers: { where: { transport: 'stdio', command: process.execPath, args: ['./servers/where.mjs'] } },
    };
    d.config(
      `{ plugins: [{ use: '@opspawn/store-sqlite', options: { path: './data/tasks.db' } }, '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', { use: '@opspawn/tools-quickjs', options: { dirs: ['./tools'], watch: false } }, { use: '@opspawn/mcp-proxy', options: ${JSON.stringify(mcp)} }] }`,
    );
    elsewhere = mkdtempSync(join(tmpdir(), 'opspawn-elsewhere-'));
    writeFileSync(
      join(elsewhere, 'task.json'),
      JSON.stringify({
        goal: 'add, and ask the MCP server where it runs',
        input: {
          plan: [
            { tool: 'js__calculate', arguments: { expression: '2+3' } },
            { tool: 'mcp__call', arguments: { server: 'where', tool: 'cwd', arguments: {} } },
          ],
        },
      }),
    );
  });
  afterEach(() => {
    d.cleanup();
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it("resolve against the config file's folder when the CLI runs from another folder: SQLite, tool files, an MCP server", async () => {
    const r = await runCli(['--config', join(d.dir, 'opspawn.config.ts'), 'run', 'task.json', '--json'], {
      cwd: elsewhere,
    });
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const outputs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: { ok?: boolean; output?: unknown } })
      .filter((e) => e.type === 'tool_result')
      .map((e) => e.data);
    expect(outputs.map((o) => o.ok)).to.deep.equal([true, true]);
    expect(outputs[1]!.output).to.equal(d.dir);
    expect(existsSync(join(d.dir, 'data/tasks.db'))).to.equal(true);
    expect(existsSync(join(elsewhere, 'data'))).to.equal(false);
  });
});
