/** What a new deployment is made of: the answers `create-opspawn` collected. */
export interface DeploymentChoices {
  /** package.json's name. */
  name: string;
  /** embedded: one process, SQLite and an in-process queue; distributed: PostgreSQL and Redis, any number of workers. */
  mode: 'embedded' | 'distributed';
  /** The version of the @opspawn packages to depend on (create-opspawn is released with them). */
  version: string;
}

/** The plugins of each mode, as package names; all of them become dependencies of the deployment. */
export const PLUGINS: Record<DeploymentChoices['mode'], string[]> = {
  embedded: [
    '@opspawn/store-sqlite',
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',
    '@opspawn/planner-scripted',
    '@opspawn/tools-quickjs',
    '@opspawn/transport-rest',
    '@opspawn/transport-grpc',
    '@opspawn/dashboard',
  ],
  distributed: [
    '@opspawn/store-postgres',
    '@opspawn/broker-bee-queue',
    '@opspawn/memory-redis',
    '@opspawn/planner-scripted',
    '@opspawn/tools-quickjs',
    '@opspawn/transport-rest',
    '@opspawn/transport-grpc',
    '@opspawn/dashboard',
  ],
};

const EMBEDDED_PLUGINS = `    plugin('@opspawn/store-sqlite', { path: '\${OPSPAWN_DB:-./data/opspawn.db}' }),
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',`;

const DISTRIBUTED_PLUGINS = `    plugin('@opspawn/store-postgres', {
      connectionString: '\${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/opspawn}',
      schema: '\${OPSPAWN_PG_SCHEMA:-public}',
    }),
    plugin('@opspawn/broker-bee-queue', {
      url: '\${REDIS_URL:-redis://127.0.0.1:6379}',
      queue: '\${OPSPAWN_QUEUE:-opspawn}',
    }),
    plugin('@opspawn/memory-redis', {
      url: '\${REDIS_URL:-redis://127.0.0.1:6379}',
      keyPrefix: '\${OPSPAWN_QUEUE:-opspawn}:memory:',
    }),`;

function config(mode: DeploymentChoices['mode']): string {
  const header =
    mode === 'embedded'
      ? `// This deployment runs in one process with no services: tasks live in SQLite (./data/opspawn.db), the queue is
// in-process, and agents run with the scripted planner and the JavaScript tools in ./config/tools.`
      : `// A distributed deployment: tasks live in PostgreSQL (DATABASE_URL), move through bee-queue over Redis
// (REDIS_URL), and session memory lives in Redis, so any worker can run any task. Start API processes with
// \`npm start\` and workers with \`npx opspawn worker\`, on any machines that reach the same PostgreSQL and Redis.`;
  return `${header}
// Change it with \`npx opspawn plugins add|remove|enable|disable\`, or by hand; \`npx opspawn config check\` checks it.
import { defineConfig, plugin } from '@opspawn/plugin-sdk';

const env = process.env;
const apiKey = env.OPSPAWN_API_KEY;
// Without OPSPAWN_API_KEY the APIs run in development mode and listen on loopback only.
const apiKeys = apiKey ? [{ key: apiKey, name: 'ops', scopes: ['admin' as const] }] : [];

export default defineConfig({
  plugins: [
${mode === 'embedded' ? EMBEDDED_PLUGINS : DISTRIBUTED_PLUGINS}
    '@opspawn/planner-scripted',
    plugin('@opspawn/tools-quickjs', { dirs: ['./config/tools'] }),
    plugin('@opspawn/transport-rest', {
      host: env.OPSPAWN_HOST ?? '127.0.0.1',
      port: Number(env.OPSPAWN_HTTP_PORT ?? 8080),
      apiKeys,
    }),
    plugin('@opspawn/transport-grpc', {
      host: env.OPSPAWN_HOST ?? '127.0.0.1',
      port: Number(env.OPSPAWN_GRPC_PORT ?? 50051),
      apiKeys,
    }),
    // The web dashboard under /ui on the REST port, behind the same API keys.
    '@opspawn/dashboard',
  ],
  // Used when a task names no planner.
  planner: 'planner-scripted',
  // Agents: a planner with its options, a tool scope and limits under a name; tasks choose one with \`agent\`.
  // These three run offline (the scripted planner reads its plan from the task); \`coordinator\` calls
  // \`calculator\` as its tool \`agents__calculator\` (a handoff: a child task).
  agents: {
    calculator: {
      description: 'Evaluates arithmetic with the sandboxed calculate tool',
      planner: 'planner-scripted',
      instructions: 'You are a careful calculator. Task: {{ goal }}',
      tools: ['js__calculate'],
      limits: { maxSteps: 5, timeoutMs: 30_000 },
      labels: { sample: 'true' },
    },
    writer: {
      description: 'Counts the words and sentences of a text',
      planner: 'planner-scripted',
      instructions: 'You measure texts. Task: {{ goal }}',
      tools: ['js__text_*'],
      limits: { maxSteps: 5, timeoutMs: 30_000 },
      labels: { sample: 'true' },
    },
    coordinator: {
      description: 'Hands arithmetic to the calculator agent and reports its answer',
      planner: 'planner-scripted',
      tools: ['agents__calculator'],
      limits: { maxSteps: 5, timeoutMs: 60_000 },
      labels: { sample: 'true' },
    },
  },
  log: { level: (env.OPSPAWN_LOG_LEVEL as 'info' | undefined) ?? 'info' },
});
`;
}

function readme(c: DeploymentChoices): string {
  const services =
    c.mode === 'embedded'
      ? 'It needs nothing but Node.js 20.10 or newer: tasks are kept in SQLite in `./data/`.'
      : `It needs PostgreSQL and Redis; point it at them with \`DATABASE_URL\` (default
\`postgres://postgres@127.0.0.1:5432/opspawn\`) and \`REDIS_URL\` (default \`redis://127.0.0.1:6379\`). Start API
processes with \`npm start -- --role api\` and workers with \`npx opspawn worker\`, as many as you like.`;
  return `# ${c.name}

An [Opspawn](https://github.com/opspawn/opspawn) deployment (${c.mode}), made by \`npm create opspawn\`. ${services}

## Run it
\`\`\`sh
npm install
npm start
\`\`\`
The REST API listens on http://127.0.0.1:8080 and gRPC on 127.0.0.1:50051 (\`OPSPAWN_HTTP_PORT\`,
\`OPSPAWN_GRPC_PORT\` and \`OPSPAWN_HOST\` change that; set \`OPSPAWN_API_KEY\` before listening beyond loopback).
The dashboard is at http://127.0.0.1:8080/ui: tasks with their live timelines, agents, plugins and their health.

Submit a task to the sample \`calculator\` agent, which runs its plan with the sandboxed \`js__calculate\` tool, then
read it back:
\`\`\`sh
curl -sS -X POST http://127.0.0.1:8080/v1/tasks -H 'Content-Type: application/json' \\
  -d '{"goal": "compute", "agent": "calculator", "input": {"plan": [{"tool": "js__calculate", "arguments": {"expression": "6*7"}}]}}'
curl -sS http://127.0.0.1:8080/v1/tasks/<id from the answer>
\`\`\`
\`npx opspawn run --help\` shows how to submit one from the command line and wait for its result.

## Change it
- \`opspawn.config.ts\`: the plugins, the agents and their limits.
- \`config/tools/\`: the JavaScript tools agents can call, one file each, run in a QuickJS sandbox;
  \`config/tasks/\`: sample tasks (\`npx opspawn tasks submit config/tasks/first-task.json --wait\`).
- \`npx opspawn plugins add <package>\` installs a plugin from the npm registry, checks it and adds it to the config;
  \`npx opspawn plugins update\` moves plugins to the newest versions their ranges allow, refusing any that does not
  fit this kernel. \`npx opspawn config check\` checks the config without starting anything.
- \`npx opspawn --help\` lists every command.
`;
}

/** Every file of a new deployment except the sample tools, by path relative to its folder. */
export function deploymentFiles(c: DeploymentChoices): Record<string, string> {
  const range = `^${c.version}`;
  const dependencies = Object.fromEntries(
    ['@opspawn/core', '@opspawn/plugin-sdk', ...PLUGINS[c.mode]].sort().map((name) => [name, range]),
  );
  const packageJson = {
    name: c.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: `An Opspawn deployment (${c.mode})`,
    scripts: { start: 'opspawn start', check: 'opspawn config check' },
    engines: { node: '>=20.10' },
    dependencies,
  };
  return {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    'opspawn.config.ts': config(c.mode),
    '.gitignore': 'node_modules/\ndata/\n*.db\n*.db-wal\n*.db-shm\n*.log\n.opspawn/\n',
    'README.md': readme(c),
  };
}
