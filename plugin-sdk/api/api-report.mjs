// The SDK's public surface, one API report per subpath export (`.` included), made by API Extractor from the SDK's
// declarations. `node api-report.mjs` fails when a report differs; `--update` rewrites the reports. The subpaths come
// from package.json `exports`, so a new subpath gets its report on the next `npm run api:update`.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const reportDir = join(packageDir, 'api');
const update = process.argv.includes('--update');
const pkg = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8'));

/** `.` -> plugin-sdk, `./errors` -> plugin-sdk-errors */
const reportName = (subpath) =>
  subpath === '.' ? 'plugin-sdk' : `plugin-sdk-${subpath.slice(2).replaceAll('/', '-')}`;

const entries = Object.entries(pkg.exports).filter(([, target]) => typeof target === 'object' && target.types);

// The declarations are emitted afresh, not read from dist/: an incremental build checks files in another order and
// then prints the members of derived types (zod's pick/omit) in another order, which would make the reports differ
// between a developer's tree and a clean checkout for no change at all.
// They go to a git-ignored folder of their own, not dist/: dist/ is what the package publishes.
const workDir = join(packageDir, '.api-report');
const declarationsDir = join(workDir, 'declarations');
rmSync(declarationsDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    fileURLToPath(import.meta.resolve('typescript/bin/tsc')),
    ...['-p', join(packageDir, 'tsconfig.json'), '--outDir', declarationsDir, '--emitDeclarationOnly'],
    ...['--composite', 'false', '--incremental', 'false', '--declarationMap', 'false', '--tsBuildInfoFile', 'null'],
  ],
  { stdio: 'inherit' },
);
const declarations = (types) => join(declarationsDir, types.replace(/^\.\/dist\//, ''));
const problems = [];
for (const [subpath, target] of entries) {
  const name = reportName(subpath);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: packageDir,
      mainEntryPointFilePath: declarations(target.types),
      compiler: { tsconfigFilePath: join(packageDir, 'tsconfig.json') },
      apiReport: {
        enabled: true,
        reportFileName: name,
        reportFolder: reportDir,
        reportTempFolder: join(workDir, 'temp'),
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        // Findings about the surface (e.g. a type used by an export but exported nowhere) are part of the report,
        // so a reviewer sees them in the diff. A subpath may use another subpath's types, so only `.` reports
        // those. Release stages are not marked in the SDK; missing docs already show as "(undocumented)".
        extractorMessageReporting: {
          default: { logLevel: 'none', addToApiReportFile: true },
          'ae-missing-release-tag': { logLevel: 'none', addToApiReportFile: false },
          'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: subpath === '.' },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    packageJsonFullPath: join(packageDir, 'package.json'),
  });
  const result = Extractor.invoke(config, { localBuild: update, messageCallback: quietReportNotice });
  const label = `${pkg.name}${subpath === '.' ? '' : subpath.slice(1)}`;
  if (result.errorCount > 0) problems.push(`${label}: API Extractor reported ${result.errorCount} error(s) above`);
  else if (result.apiReportChanged && !update)
    problems.push(`${label}: public surface differs from api/${name}.api.md`);
  else if (result.apiReportChanged) console.log(`api-report: updated api/${name}.api.md`);
}

const expected = new Set(entries.map(([subpath]) => `${reportName(subpath)}.api.md`));
for (const file of readdirSync(reportDir).filter((f) => f.endsWith('.api.md') && !expected.has(f))) {
  if (update) {
    rmSync(join(reportDir, file));
    console.log(`api-report: removed api/${file} (no such subpath export)`);
  } else problems.push(`api/${file} reports a subpath that package.json no longer exports`);
}

if (problems.length > 0) {
  for (const p of problems) console.error(`error OPSPAWN_API_REPORT_STALE: ${p}`);
  console.error(
    '(fix: if the change is intended, run `npm run api:update` and commit plugin-sdk/api/; otherwise undo it)',
  );
  process.exit(1);
}
if (!update) console.log(`api-report: ${entries.length} reports match the public surface of ${pkg.name}`);

/** API Extractor's own notices (compiler version, "please copy the file" with temp paths): the summary says it. */
function quietReportNotice(message) {
  if (message.messageId?.startsWith('console-')) message.handled = true;
}
