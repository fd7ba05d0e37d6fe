#!/usr/bin/env node
// Releases every @opspawn package (and create-opspawn) together, at one version. See docs/how-to/release.md.
//
//   node scripts/release.mjs --version 1.1.0                       set the version everywhere, nothing else
//   node scripts/release.mjs --registry http://127.0.0.1:4873/     clean build, then npm publish each package
//   node scripts/release.mjs --pack-destination ./out              clean build, then npm pack each package
//   node scripts/release.mjs --clean-build                         empty every dist/, then build (npm run build:clean)
//
// --skip-build publishes or packs what dist/ holds now (only right after a clean build, as CI's fresh clone has);
// --tag <dist-tag> publishes under that dist-tag (default: npm's `latest`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECTIONS = ['dependencies', 'peerDependencies', 'devDependencies', 'optionalDependencies'];
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

function fail(message) {
  process.stderr.write(`error ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { skipBuild: false, cleanBuild: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) fail(`${arg} needs a value`);
      return v;
    };
    if (arg === '--version') args.version = value();
    else if (arg === '--registry') args.registry = value();
    else if (arg === '--pack-destination') args.packDestination = resolve(value());
    else if (arg === '--tag') args.tag = value();
    else if (arg === '--skip-build') args.skipBuild = true;
    else if (arg === '--clean-build') args.cleanBuild = true;
    else fail(`unknown argument '${arg}' (see the top of scripts/release.mjs, or docs/how-to/release.md)`);
  }
  if (args.version !== undefined && !SEMVER.test(args.version))
    fail(`--version '${args.version}' is not a semver version such as 1.2.0`);
  if (args.registry && args.packDestination) fail('give --registry (publish) or --pack-destination (pack), not both');
  return args;
}

/** Every published package of the repository: its folder and package.json, from the root's workspaces. */
export function releasePackages() {
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const dirs = root.workspaces.flatMap((w) =>
    w.endsWith('/*')
      ? readdirSync(join(REPO, w.slice(0, -2)), { withFileTypes: true })
          .filter((e) => e.isDirectory() && existsSync(join(REPO, w.slice(0, -2), e.name, 'package.json')))
          .map((e) => join(w.slice(0, -2), e.name))
      : [w],
  );
  const packages = dirs
    .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')) }))
    .filter((p) => !p.pkg.private);
  return inDependencyOrder(packages);
}

/** Each package after every package of this repository it depends on (any section): the order to publish in. */
function inDependencyOrder(packages) {
  const byName = new Map(packages.map((p) => [p.pkg.name, p]));
  const ordered = [];
  const seen = new Set();
  const visit = (p, path) => {
    if (seen.has(p.pkg.name)) return;
    if (path.includes(p.pkg.name)) fail(`dependency circle: ${[...path, p.pkg.name].join(' -> ')}`);
    for (const section of SECTIONS)
      for (const name of Object.keys(p.pkg[section] ?? {}))
        if (byName.has(name) && name !== p.pkg.name) visit(byName.get(name), [...path, p.pkg.name]);
    seen.add(p.pkg.name);
    ordered.push(p);
  };
  for (const p of [...packages].sort((a, b) => a.pkg.name.localeCompare(b.pkg.name))) visit(p, []);
  return ordered;
}

/** One version for every package; every range on another package of the repository becomes ^version. */
function setVersion(packages, version) {
  const names = new Set(packages.map((p) => p.pkg.name));
  for (const p of packages) {
    p.pkg.version = version;
    for (const section of SECTIONS)
      for (const name of Object.keys(p.pkg[section] ?? {})) if (names.has(name)) p.pkg[section][name] = `^${version}`;
    writeFileSync(join(REPO, p.dir, 'package.json'), `${JSON.stringify(p.pkg, null, 2)}\n`);
  }
  run('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], REPO);
  process.stdout.write(`set ${packages.length} packages to ${version}; add its section to CHANGELOG.md\n`);
}

/** What a pack must never carry: a reference into this repository instead of a version range. */
function checkRanges(packages) {
  for (const p of packages)
    for (const section of SECTIONS)
      for (const [name, range] of Object.entries(p.pkg[section] ?? {}))
        if (/^(file|link|workspace|portal):/.test(range) || range.startsWith('.') || range.startsWith('/'))
          fail(`${p.dir}/package.json: ${section}.${name} is '${range}'; a published package needs a version range`);
}

/** dist/ and the build info of every project emptied, then one build: no file of a deleted source survives. */
function cleanBuild(packages) {
  for (const p of packages) {
    rmSync(join(REPO, p.dir, 'dist'), { recursive: true, force: true });
    // Every project's build info (a package may have several, as the dashboard's browser half does), or tsc -b
    // would think the emptied dist/ up to date.
    for (const name of readdirSync(join(REPO, p.dir)))
      if (name.endsWith('.tsbuildinfo')) rmSync(join(REPO, p.dir, name), { force: true });
  }
  process.stdout.write('building every package from a clean dist/\n');
  run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-b'], REPO);
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) fail(`${command} ${args.join(' ')} failed in ${cwd} (exit code ${r.status ?? r.signal})`);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const packages = releasePackages();
  if (args.version) setVersion(packages, args.version);
  if (!args.registry && !args.packDestination) {
    if (args.cleanBuild) cleanBuild(packages);
    else if (!args.version) fail('nothing to do: give --version, --registry, --pack-destination or --clean-build');
    return;
  }
  checkRanges(packages);
  if (!args.skipBuild) cleanBuild(packages);
  for (const p of packages) {
    const cwd = join(REPO, p.dir);
    const common = ['--no-audit', '--no-fund', '--loglevel', 'warn'];
    if (args.registry) {
      process.stdout.write(`publishing ${p.pkg.name}@${p.pkg.version} to ${args.registry}\n`);
      run(
        'npm',
        [
          'publish',
          '--registry',
          args.registry,
          '--access',
          'public',
          ...common,
          ...(args.tag ? ['--tag', args.tag] : []),
        ],
        cwd,
      );
    } else {
      run('npm', ['pack', '--pack-destination', args.packDestination, ...common], cwd);
    }
  }
  process.stdout.write(
    `${args.registry ? 'published' : 'packed'} ${packages.length} packages at ${packages[0]?.pkg.version}: ${packages.map((p) => p.pkg.name).join(', ')}\n`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
