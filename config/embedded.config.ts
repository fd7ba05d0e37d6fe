// Sample: the smallest embedded deployment — SQLite store, in-process queue, scripted planner.
// Run it with: npx opspawn start --config config/embedded.config.ts (the database lands in config/data/: relative
// paths start at the config file's folder).
import { defineConfig } from '@opspawn/plugin-sdk';

export default defineConfig({
  plugins: [
    { use: '@opspawn/store-sqlite', options: { path: './data/embedded.db' } },
    '@opspawn/broker-memory',
    '@opspawn/memory-buffer',
    '@opspawn/planner-scripted',
  ],
});
