import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO } from '../helpers/deployment.js';

/**
 * A contract suite whose subject cannot be made (the backend is down, the options are wrong) reports that failure,
 * once per suite, and not a TypeError from cleaning up a subject that was never made.
 */
describe('SDK contract suites when the subject cannot be made', function () {
  this.timeout(60_000);

  it('report the real failure, with no cleanup TypeError after it', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(REPO, 'node_modules/mocha/bin/mocha.js'),
        '--no-config',
        '--node-option',
        'import=tsx',
        '--reporter',
        'spec',
        join(REPO, 'test/plugin-sdk/fixtures/failing-contract.fixture.ts'),
      ],
      { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    const output = `${r.stdout}\n${r.stderr}`;
    expect(r.status, output).to.not.equal(0);
    for (const kind of ['store', 'broker', 'memory', 'planner'])
      expect(output, kind).to.match(new RegExp(`unreachable-${kind} keeps the ${kind} contract`));
    expect(output.match(/ECONNREFUSED \(the real failure\)/g)?.length, output).to.be.at.least(4);
    expect(output).to.not.match(/TypeError|reading 'cleanup'/);
  });
});
