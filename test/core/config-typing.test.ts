import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { REPO } from '../helpers/deployment.js';

const run = promisify(execFile);
const DIR = join(REPO, 'test/core/fixtures/typed-config');

/** What an editor shows: TypeScript checks plugin options by plugin name in opspawn.config.ts. */
describe('defineConfig typing', function () {
  this.timeout(60_000);
  const tsc = (file: string) =>
    run(
      process.execPath,
      [
        join(REPO, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        '--skipLibCheck',
        '--types',
        'node',
        join(DIR, file),
      ],
      { cwd: DIR },
    ).then(
      () => '',
      (e: { stdout: string }) => e.stdout,
    );

  it('accepts a config whose plugin options match the plugin types', async () => {
    expect(await tsc('good.config.ts')).to.equal('');
  });

  it('flags a wrong option type of a named plugin and an unknown log level', async () => {
    const out = await tsc('bad.config.ts');
    expect(out).to.match(/bad\.config\.ts\(5,.*Type 'number' is not assignable to type 'string'/);
    expect(out).to.match(/bad\.config\.ts\(6,.*"loud"/);
  });
});
