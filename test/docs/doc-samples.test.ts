import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { expect } from 'chai';
import ts from 'typescript';
import { Deployment, REPO } from '../helpers/deployment.js';

/** A TypeScript sample of the docs: where it stands, and the file it becomes in the sample project. */
interface Sample {
  doc: string;
  line: number;
  file: string;
  code: string;
}

/** Every page a user reads TypeScript from: the docs, the READMEs of the packages, the repository's README. */
function pages(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
    );
  const readmes = ['README.md', 'plugin-sdk/README.md', 'core/testing/README.md'];
  const pluginReadmes = readdirSync(join(REPO, 'plugins')).map((id) => `plugins/${id}/README.md`);
  return [...walk('docs'), ...readmes, ...pluginReadmes].filter((p) => {
    try {
      readFileSync(join(REPO, p));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * ```ts blocks compile; ```ts fragment blocks (an excerpt of a type, one entry of a list) are left out. A block
 * fenced ```ts file=src/x.ts is written at that path, so the samples of one page can import each other.
 */
function samples(): Sample[] {
  const out: Sample[] = [];
  for (const doc of pages()) {
    const lines = readFileSync(join(REPO, doc), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const fence = /^```ts(?:\s+(.*))?$/.exec(lines[i]!);
      if (!fence) continue;
      const info = fence[1] ?? '';
      const end = lines.indexOf('```', i + 1);
      const code = lines.slice(i + 1, end).join('\n');
      const named = /(?:^|\s)file=(\S+)/.exec(info)?.[1];
      if (!/(?:^|\s)fragment(?:\s|$)/.test(info)) {
        const folder = doc.replace(/\.md$/, '').replace(/[^\w]+/g, '_');
        out.push({ doc, line: i + 1, file: join(folder, named ?? `sample_${i + 1}.ts`), code });
      }
      i = end;
    }
  }
  return out;
}

describe('docs: TypeScript samples', function () {
  this.timeout(120_000);

  it('every sample compiles under the tsconfig of a scaffolded plugin', async () => {
    // The compiler options a plugin author gets from `opspawn plugins new`, read from what it writes.
    const scaffold = new Deployment();
    const project = mkdtempSync(join(tmpdir(), 'opspawn-doc-samples-'));
    try {
      const made = await scaffold.run(['plugins', 'new', 'sample', '--kind', 'tool-provider', '--dir', 'sample']);
      expect(made.code, made.stderr).to.equal(0);
      const { compilerOptions } = JSON.parse(readFileSync(join(scaffold.dir, 'sample/tsconfig.json'), 'utf8'));
      const { options, errors } = ts.convertCompilerOptionsFromJson(
        { ...compilerOptions, rootDir: undefined, outDir: undefined, noEmit: true },
        project,
      );
      expect(errors).to.deep.equal([]);

      // A project beside which the packages resolve as they would in a deployment that installed them.
      writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
      symlinkSync(join(REPO, 'node_modules'), join(project, 'node_modules'));
      const all = samples();
      expect(all.length).to.be.greaterThan(10);
      for (const s of all) {
        mkdirSync(dirname(join(project, s.file)), { recursive: true });
        // Each sample is a module of its own, even one without an import.
        writeFileSync(join(project, s.file), `${s.code}\nexport {};\n`);
      }
      const program = ts.createProgram(
        all.map((s) => join(project, s.file)),
        options,
      );
      const problems = ts.getPreEmitDiagnostics(program).map((d) => {
        const sample = all.find((s) => d.file && relative(project, d.file.fileName) === s.file);
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
        const where = sample ? `${sample.doc}:${sample.line + 1 + at}` : (d.file?.fileName ?? '?');
        return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      });
      // The first problem of each page: what is wrong with it, without the errors that follow from it.
      const firstPerPage = problems.filter(
        (p, i) => problems.findIndex((q) => q.split(':')[0] === p.split(':')[0]) === i,
      );
      expect(firstPerPage, firstPerPage.join('\n')).to.deep.equal([]);
    } finally {
      scaffold.cleanup();
      rmSync(project, { recursive: true, force: true });
    }
  });
});
