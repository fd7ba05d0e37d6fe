/**
 * `npm run bench [-- name...]`: runs every `test/bench/*.bench.ts` (or the ones named) one after another in
 * this process. Each module's default export is an async function that prints its own numbers and ratios
 * against a baseline measured in the same run. Nothing here asserts a time.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort()
  // The distributed bench leaves PostgreSQL busy for a while (vacuum, dropped schemas): it goes last, so it does
  // not weigh on the in-process benches that follow it.
  .sort((a, b) => Number(a.startsWith('distributed')) - Number(b.startsWith('distributed')));

for (const file of files) {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<void> };
  console.log(`\n=== ${file.replace('.bench.ts', '')} ===`);
  await mod.default();
}
process.exit(0);
