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
    { use: '@opspawn/tools-quickjs', options: { dirs: ['./config/tools'] } },
    { use: '@opspawn/mcp-proxy', options: { servers: {} } },
    // No API key configured: local development mode, loopback only. Set one for anything else:
    // apiKeys: [{ key: '${OPSPAWN_API_KEY}', name: 'ops', scopes: ['admin'] }]
    { use: '@opspawn/transport-rest', options: { host: '127.0.0.1', port: 8080 } },
    { use: '@opspawn/transport-grpc', options: { host: '127.0.0.1', port: 50051 } },
  ],
  // Several planners can be enabled; this one is used when a task names none.
  planner: 'planner-scripted',
  log: { level: 'info' },
});
