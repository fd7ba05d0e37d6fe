import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect } from 'chai';
import { REPO } from '../helpers/deployment.js';
// @ts-expect-error: a plain .mjs script, without types
import { releasePackages } from '../../scripts/release.mjs';

interface Packed {
  name: string;
  version: string;
  files: Array<{ path: string }>;
}

interface Manifest {
  name: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  [section: string]: unknown;
}

const SECTIONS = ['dependencies', 'peerDependencies', 'devDependencies', 'optionalDependencies'];
/** What a published package may carry at its top: built output, the sources its maps point at, and its docs. */
const ALLOWED_TOP = new Set(['dist', 'src', 'bin', 'proto', 'templates', 'README.md', 'LICENSE', 'package.json']);

/**
 * What `npm pack` puts in each package this repository publishes (the release script's list), as a user installing
 * it from the registry gets it: built output and docs only, no references into this repository, every entry point
 * present, source maps that point at files in the package, and no build output whose source is gone.
 */
describe('published packages: what npm pack puts in each', function () {
  this.timeout(120_000);
  const packages = releasePackages() as Array<{ dir: string; pkg: Manifest }>;
  let packed: Map<string, Packed>;

  before(function () {
    if (!existsSync(join(REPO, 'core/dist/cli/main.js'))) {
      if (process.env.CI === 'true') throw new Error('the packages are not built; CI builds before testing');
      console.warn(`\n  !!! SKIPPING "${this.test?.parent?.fullTitle()}": not built (npm run build). !!!\n`);
      this.skip();
    }
    const r = spawnSync(
      'npm',
      ['pack', '--dry-run', '--json', '--loglevel', 'error', ...packages.flatMap((p) => ['-w', p.dir])],
      { cwd: REPO, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).to.equal(0);
    // Lifecycle scripts (prepack) may print before the JSON: it is the last top-level array.
    const json = r.stdout.slice(r.stdout.lastIndexOf('\n[') + 1);
    packed = new Map((JSON.parse(json) as Packed[]).map((p) => [p.name, p]));
  });

  it('covers every workspace package that is not private, create-opspawn included', () => {
    const names = packages.map((p) => p.pkg.name);
    expect(names).to.include.members(['@opspawn/plugin-sdk', '@opspawn/core', '@opspawn/testing', 'create-opspawn']);
    expect(names.filter((n) => n.startsWith('@opspawn/')).length).to.be.greaterThan(10);
    expect([...packed.keys()].sort()).to.deep.equal([...names].sort());
  });

  it('carries what is copied in at pack time: the .proto files of transport-grpc, the samples of create-opspawn', () => {
    const paths = (name: string) => packed.get(name)!.files.map((f) => f.path);
    expect(paths('@opspawn/transport-grpc')).to.include('proto/opspawn/v1/tasks.proto');
    expect(paths('create-opspawn')).to.include.members([
      'templates/config/tools/calculate.js',
      'templates/config/tasks/first-task.json',
    ]);
    // ...and leaves no copy behind in the repository (postpack).
    expect(existsSync(join(REPO, 'plugins/transport-grpc/proto'))).to.equal(false);
    expect(existsSync(join(REPO, 'create-opspawn/templates'))).to.equal(false);
  });

  it('carries the dashboard’s page, stylesheet and browser modules, which its routes serve from the package', () => {
    const paths = packed.get('@opspawn/dashboard')!.files.map((f) => f.path);
    expect(paths).to.include.members([
      'src/ui/index.html',
      'src/ui/dashboard.css',
      'dist/ui/main.js',
      'dist/ui/api.js',
    ]);
  });

  for (const { dir, pkg } of releasePackages() as Array<{ dir: string; pkg: Manifest }>) {
    describe(pkg.name, () => {
      const files = () => new Set(packed.get(pkg.name)!.files.map((f) => f.path));

      it('carries built output, sources and docs only: no tests, build info, configs or tarballs', () => {
        for (const path of files()) {
          expect(ALLOWED_TOP.has(path.split('/')[0]!), `${dir}: ${path}`).to.equal(true);
          expect(path, dir).to.not.match(/(^|\/)(test|tests|__tests__)\/|\.test\.[cm]?[jt]s|tsbuildinfo|\.tgz$/);
        }
        expect(files().has('README.md'), `${dir} packs no README.md`).to.equal(true);
      });

      it('names other packages by version range, never by a path into this repository', () => {
        for (const section of SECTIONS)
          for (const [name, range] of Object.entries((pkg[section] as Record<string, string>) ?? {}))
            expect(range, `${dir}: ${section}.${name}`).to.not.match(/^(file|link|workspace|portal):|^[./]/);
      });

      it('packs every entry point it declares: main, types, bin and each exports target', () => {
        const targets = [
          pkg.main,
          pkg.types,
          ...Object.values(pkg.bin ?? {}),
          ...Object.values(pkg.exports ?? {}).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t))),
        ].filter((t): t is string => typeof t === 'string');
        expect(targets.length, dir).to.be.greaterThan(0);
        for (const target of targets)
          expect(files().has(normalize(target)), `${dir}: ${target} is declared but not packed`).to.equal(true);
      });

      it('has source maps whose sources are files of the package', () => {
        const maps = [...files()].filter((f) => f.endsWith('.map'));
        for (const map of maps) {
          const { sources } = JSON.parse(readFileSync(join(REPO, dir, map), 'utf8')) as { sources: string[] };
          for (const source of sources) {
            const target = normalize(join(dirname(map), source));
            expect(files().has(target), `${dir}/${map} points at ${target}, which is not packed`).to.equal(true);
          }
        }
      });

      it('has no build output whose source is gone (dist/ is built clean)', () => {
        const distDir = join(REPO, dir, 'dist');
        if (!existsSync(distDir)) return;
        const stale = (readdirSync(distDir, { recursive: true }) as string[])
          .filter((f) => /\.(js|d\.ts)$/.test(f))
          .filter((f) => !existsSync(join(REPO, dir, 'src', f.replace(/(\.d\.ts|\.js)$/, '.ts'))))
          .map((f) => relative(REPO, join(distDir, f)));
        expect(stale, 'stale output: npm run build:clean rebuilds dist/ from nothing').to.deep.equal([]);
      });
    });
  }
});
