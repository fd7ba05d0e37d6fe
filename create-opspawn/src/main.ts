import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { deploymentFiles, type DeploymentChoices } from './deployment-files.js';

const USAGE = `usage: npm create opspawn@latest <folder> [-- --embedded | --distributed]

Creates an Opspawn deployment in <folder> (new, or empty): opspawn.config.ts, package.json with the chosen plugins,
sample tools and tasks in config/, .gitignore and a README. Then: cd <folder> && npm install && npm start.

  --embedded     one process, nothing to install: SQLite, an in-process queue (the default without a terminal)
  --distributed  PostgreSQL and Redis (DATABASE_URL, REDIS_URL), API processes and workers on any machines
  -h, --help     this help
`;

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

class UsageError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

interface Args {
  folder?: string;
  mode?: DeploymentChoices['mode'];
  help: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { help: false };
  for (const arg of argv) {
    if (arg === '-h' || arg === '--help') args.help = true;
    else if (arg === '--embedded' || arg === '--distributed') {
      const mode = arg.slice(2) as DeploymentChoices['mode'];
      if (args.mode && args.mode !== mode)
        throw new UsageError('--embedded and --distributed exclude each other', 'give one of them');
      args.mode = mode;
    } else if (arg.startsWith('-'))
      throw new UsageError(`unknown option '${arg}'`, 'the options are --embedded, --distributed and --help');
    else if (args.folder !== undefined)
      throw new UsageError(`two folders given: '${args.folder}' and '${arg}'`, 'give one folder');
    else args.folder = arg;
  }
  return args;
}

/** The samples a deployment gets, by folder: carried in the package (templates/), or in this repository's config/. */
const SAMPLES = ['config/tools', 'config/tasks'];

/** Where the samples are: the package's templates/ (published), or this repository's top folder (a clone). */
function samplesRoot(): string {
  for (const candidate of ['templates', '..']) {
    const root = join(PACKAGE_ROOT, candidate);
    if (SAMPLES.every((s) => existsSync(join(root, s)))) return root;
  }
  throw new Error(`the samples are missing from ${PACKAGE_ROOT}/templates; reinstall create-opspawn`);
}

/** A package.json name from the folder's name: lowercase, npm's characters only. */
function packageName(folder: string): string {
  const name = basename(folder)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '');
  return name || 'opspawn-deployment';
}

/** Questions on the terminal, over one readline for the whole run: an answer typed ahead is not lost. */
class Prompt {
  private lines?: AsyncIterator<string>;
  private rl?: ReturnType<typeof createInterface>;

  async ask(question: string): Promise<string> {
    if (!this.rl) {
      this.rl = createInterface({ input: process.stdin, output: process.stdout });
      this.rl.on('SIGINT', () => {
        process.stdout.write('\n');
        process.exit(130);
      });
      this.lines = this.rl[Symbol.asyncIterator]();
    }
    process.stdout.write(question);
    const next = await this.lines!.next();
    if (next.done)
      throw new UsageError('no answer: the input ended', 'answer the question, or give the folder and a flag');
    return next.value.trim();
  }

  close(): void {
    this.rl?.close();
  }
}

const prompt = new Prompt();
const ask = (question: string) => prompt.ask(question);

async function chooseMode(given: Args['mode']): Promise<DeploymentChoices['mode']> {
  if (given) return given;
  if (!process.stdin.isTTY || !process.stdout.isTTY) return 'embedded';
  for (;;) {
    const answer = (
      await ask('Embedded (one process, SQLite, nothing else to install) or distributed (PostgreSQL + Redis)? [E/d] ')
    ).toLowerCase();
    if (answer === '' || answer === 'e' || answer === 'embedded') return 'embedded';
    if (answer === 'd' || answer === 'distributed') return 'distributed';
    process.stdout.write(`'${answer}' is neither; type e or d\n`);
  }
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  let folder = args.folder;
  if (folder === undefined && process.stdin.isTTY && process.stdout.isTTY)
    folder = (await ask('Folder for the new deployment: (my-opspawn) ')) || 'my-opspawn';
  if (folder === undefined) throw new UsageError('no folder given', 'name one: npm create opspawn@latest my-host');
  const dir = resolve(folder);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new UsageError(`${dir} already exists and is not empty`, 'choose a new folder, or empty this one');
  const mode = await chooseMode(args.mode);
  const own = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const files = deploymentFiles({ name: packageName(dir), mode, version: own.version });
  const samples = samplesRoot();

  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  for (const sample of SAMPLES) cpSync(join(samples, sample), join(dir, sample), { recursive: true });
  const shown = relative(process.cwd(), dir) || '.';
  const written = [
    ...Object.keys(files),
    ...SAMPLES.flatMap((sample) => readdirSync(join(samples, sample)).map((f) => `${sample}/${f}`)),
  ];
  process.stdout.write(
    `created ${mode === 'embedded' ? 'an' : 'a'} ${mode} Opspawn deployment in ${shown}\n` +
      written.map((f) => `  ${f}\n`).join('') +
      `next:\n  cd ${shown}\n  npm install\n  npm start\n` +
      (mode === 'distributed' ? '(with DATABASE_URL and REDIS_URL pointing at your PostgreSQL and Redis)\n' : ''),
  );
}

main(process.argv.slice(2))
  .finally(() => prompt.close())
  .catch((error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`error ${error.message} (fix: ${error.fix})\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`error ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
