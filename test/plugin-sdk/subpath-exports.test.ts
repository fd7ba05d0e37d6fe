import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO } from '../helpers/deployment.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'plugin-sdk/package.json'), 'utf8'));
/** The concern subpaths the package root re-exports: all but `.`, `./testing` and `./package.json`. */
const concerns = Object.keys(pkg.exports).filter((s) => !['.', './testing', './package.json'].includes(s));
/** Every entry loaded the same way (mocha may load this file through require, the entries through import). */
const load = (subpath: string): Promise<Record<string, unknown>> => import(`@opspawn/plugin-sdk${subpath.slice(1)}`);

describe('@opspawn/plugin-sdk subpath exports', () => {
  it('offers each concern at its own subpath, as the very values the package root exports', async () => {
    expect(concerns).to.include.members(['./plugin', './errors', './tasks', './extension-points', './services']);
    const sdk = await load('.');
    for (const subpath of concerns) {
      for (const [name, value] of Object.entries(await load(subpath))) {
        expect(sdk[name], `${name} from ${subpath}`).to.equal(value);
      }
    }
  });

  it('has a subpath for every value the package root exports', async () => {
    const sdk = await load('.');
    const placed = new Set<string>();
    for (const subpath of concerns) {
      for (const name of Object.keys(await load(subpath))) placed.add(name);
    }
    const unplaced = Object.keys(sdk).filter((name) => !placed.has(name));
    expect(unplaced, 'exported by src/index.ts but by no entry file in src/exports/').to.deep.equal([]);
  });

  it('keeps the contract suites out of the package root, so a plugin does not load mocha or chai', async () => {
    const [sdk, testing] = [await load('.'), await load('./testing')];
    expect(testing.storeContract).to.be.a('function');
    expect(sdk).to.not.have.property('storeContract');
  });

  it('depends on no other Opspawn package', () => {
    const declared = { ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies };
    expect(Object.keys(declared).filter((name) => name.startsWith('@opspawn/'))).to.deep.equal([]);
  });
});
