import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO, runCli } from '../helpers/deployment.js';

const BIN = join(REPO, 'create-opspawn/bin/create-opspawn.js');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'create-opspawn/package.json'), 'utf8')) as { version: string })
  .version;

/** `npm create opspawn` runs this bin; here it runs from the repository's build, with no terminal. */
function create(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** node_modules/@opspawn/* linked to this repository's packages, as `npm install` would put them. */
function linkPackages(dir: string, names: string[]): void {
  mkdirSync(join(dir, 'node_modules/@opspawn'), { recursive: true });
  for (const name of names) {
    const id = name.slice('@opspawn/'.length);
    const folder = id === 'core' || id === 'plugin-sdk' ? id : `plugins/${id}`;
    symlinkSync(join(REPO, folder), join(dir, 'node_modules', name));
  }
}

describe('create-opspawn: a deployment from nothing', function () {
  this.timeout(60_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'opspawn-create-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  for (const mode of ['embedded', 'distributed'] as const) {
    it(`writes the ${mode} deployment whose config passes every check against the real plugins`, async () => {
      const r = create(['my-host', `--${mode}`], work);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(`created ${mode === 'embedded' ? 'an' : 'a'} ${mode} Opspawn deployment in my-host`);
      expect(r.stdout).to.match(/next:\n {2}cd my-host\n {2}npm install\n {2}npm start\n/);
      const dir = join(work, 'my-host');
      for (const file of ['opspawn.config.ts', '.gitignore', 'README.md', 'config/tools/calculate.js'])
        expect(existsSync(join(dir, file)), file).to.equal(true);
      expect(existsSync(join(dir, 'config/tasks/first-task.json'))).to.equal(true);

      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      expect(pkg).to.deep.include({ name: 'my-host', private: true, type: 'module' });
      expect(pkg.scripts.start).to.equal('opspawn start');
      const store = mode === 'embedded' ? '@opspawn/store-sqlite' : '@opspawn/store-postgres';
      const broker = mode === 'embedded' ? '@opspawn/broker-memory' : '@opspawn/broker-bee-queue';
      expect(pkg.dependencies).to.include({
        '@opspawn/core': `^${VERSION}`,
        '@opspawn/plugin-sdk': `^${VERSION}`,
        [store]: `^${VERSION}`,
        [broker]: `^${VERSION}`,
        '@opspawn/transport-rest': `^${VERSION}`,
      });
      for (const range of Object.values(pkg.dependencies as Record<string, string>))
        expect(range).to.match(/^\^\d+\.\d+\.\d+/);
      expect(readFileSync(join(dir, '.gitignore'), 'utf8')).to.contain('node_modules/');

      linkPackages(dir, Object.keys(pkg.dependencies));
      const check = await runCli(['config', 'check'], { cwd: dir });
      expect(check.code, `${check.stdout}\n${check.stderr}`).to.equal(0);
      const agents = await runCli(['agents', 'list'], { cwd: dir });
      expect(agents.stdout)
        .to.match(/calculator\s+planner-scripted/)
        .and.match(/writer\s+planner-scripted/);
    });
  }

  it('writes an embedded deployment when no flag is given and there is no terminal to ask on', () => {
    const r = create(['quiet'], work);
    expect(r.code, r.stderr).to.equal(0);
    expect(readFileSync(join(work, 'quiet/opspawn.config.ts'), 'utf8')).to.contain('@opspawn/store-sqlite');
  });

  it('asks on a terminal for the folder and the kind, again after an answer it does not know', function () {
    if (spawnSync('script', ['--version']).status !== 0) {
      if (process.env.CI === 'true') throw new Error('script (util-linux) is missing; CI must run this test');
      console.warn(`\n  !!! SKIPPING "${this.test?.fullTitle()}": no script(1) to give it a terminal. !!!\n`);
      this.skip();
    }
    // script(1) gives the command a pseudo-terminal; the answers are typed ahead: a folder, a wrong kind, then d.
    const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN}`, '/dev/null'], {
      cwd: work,
      input: 'typed-host\nx\nd\n',
      encoding: 'utf8',
    });
    expect(r.status, r.stdout).to.equal(0);
    expect(r.stdout).to.contain('Folder for the new deployment:');
    expect(r.stdout).to.contain("'x' is neither; type e or d");
    expect(r.stdout).to.contain('created a distributed Opspawn deployment in typed-host');
    expect(readFileSync(join(work, 'typed-host/opspawn.config.ts'), 'utf8')).to.contain('@opspawn/store-postgres');
  });

  it('refuses a folder that is not empty, an unknown option and a missing folder: one error line, exit 2', () => {
    mkdirSync(join(work, 'taken'));
    writeFileSync(join(work, 'taken/notes.txt'), 'mine\n');
    const cases: Array<[string[], RegExp]> = [
      [['taken'], /^error .*taken already exists and is not empty \(fix: /],
      [['x', '--bogus'], /^error unknown option '--bogus' \(fix: /],
      [['x', '--embedded', '--distributed'], /^error --embedded and --distributed exclude each other/],
      [[], /^error no folder given \(fix: name one: npm create opspawn@latest my-host\)/],
    ];
    for (const [args, line] of cases) {
      const r = create(args, work);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(
        r.stderr.split('\n').filter((l) => l.startsWith('error')),
        args.join(' '),
      ).to.have.length(1);
      expect(r.stderr).to.match(line);
    }
    expect(readFileSync(join(work, 'taken/notes.txt'), 'utf8')).to.equal('mine\n');
    expect(existsSync(join(work, 'x'))).to.equal(false);
  });
});
