// Writes docs/reference/openapi.json from the same code the server serves /openapi.json with.
// Run: npx tsx plugins/transport-rest/scripts/write-openapi.ts (after npm run build).
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '@opspawn/transport-rest';

const version = (await import('@opspawn/transport-rest/package.json', { with: { type: 'json' } })).default.version as string;
writeFileSync(new URL('../../../docs/reference/openapi.json', import.meta.url), `${JSON.stringify(openApiDocument(version), null, 2)}\n`);
console.log('wrote docs/reference/openapi.json');
