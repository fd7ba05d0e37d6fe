// The default deployment: runs on a fresh machine with no services.
// Tasks live in SQLite (./data/opspawn.db), queue in-process, and run with the scripted planner
// and the sample JavaScript tools in ./config/tools. See docs/reference/config.md.
import { defineConfig } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    { use: '@opspawn/store-sqlite', options: { path: '${OPSPAWN_DB:-./data/opspawn.db}' } },
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',
    '@opspawn/planner-scripted',
    {
      use: '@opspawn/planner-openai',
      enabled: false,
      options: {
        baseURL: '${OPENAI_BASE_URL:-https://api.openai.com/v1}',
        apiKey: '${OPENAI_API_KEY:-}',
        model: '${OPENAI_MODEL:-gpt-4o-mini}',
      },
    },
    // Claude models through Anthropic's own API; see docs/how-to/use-anthropic.md.
    {
      use: '@opspawn/planner-anthropic',
      enabled: false,
      options: { apiKey: '${ANTHROPIC_API_KEY:-}', model: '${ANTHROPIC_MODEL:-claude-sonnet-5}' },
    },
    { use: '@opspawn/tools-quickjs', options: { dirs: ['./config/tools'] } },
    { use: '@opspawn/mcp-proxy', options: { servers: {} } },
    // No API key configured: local development mode, loopback only. Set one for anything else:
    // apiKeys: [{ key: '${OPSPAWN_API_KEY}', name: 'ops', scopes: ['admin'] }]
    { use: '@opspawn/transport-rest', options: { host: '127.0.0.1', port: 8080 } },
    { use: '@opspawn/transport-grpc', options: { host: '127.0.0.1', port: 50051 } },
    // Prometheus metrics on GET /metrics of the REST port (read scope); see docs/how-to/scrape-metrics.md.
    { use: '@opspawn/metrics-prometheus', enabled: false, options: { scope: 'read' } },
    // OpenTelemetry traces over OTLP/HTTP to a collector; see docs/how-to/export-traces.md.
    { use: '@opspawn/tracing-otlp', enabled: false, options: { url: 'http://127.0.0.1:4318/v1/traces' } },
    // The web dashboard at http://127.0.0.1:8080/ui (tasks live, agents, plugins); docs/how-to/use-the-dashboard.md.
    '@opspawn/dashboard',
  ],
  // Several planners can be enabled; this one is used when a task names none.
  planner: 'planner-scripted',
  // Agents: a planner with its options, a tool scope and limits under a name; tasks choose one with `agent`.
  // These three run offline (the scripted planner reads its plan from the task); `coordinator` calls
  // `calculator` as its tool `agents__calculator` (a handoff: a child task). With no defaultAgent, a task
  // naming no agent runs unscoped, with every tool. See docs/how-to/define-agents.md.
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
  log: { level: 'info' },
});
