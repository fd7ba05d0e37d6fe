// Sample: the smallest embedded deployment — SQLite store, in-process queue, scripted planner.
// Run it with: npx opspawn start --config config/embedded.config.ts
import { defineConfig } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    { use: '@opspawn/store-sqlite', options: { path: './data/embedded.db' } },
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',
    '@opspawn/planner-scripted',
  ],
});
