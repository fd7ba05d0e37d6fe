import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, OpspawnError, PLUGIN_KINDS, type PluginKind } from '@opspawn/plugin-sdk';
import { scaffoldFiles } from '../scaffold/scaffold-files.js';
import { printJson } from '../output.js';

const ID = /^[a-z][a-z0-9-]{0,62}$/;
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;

function refuse(message: string, hint: string): never {
  throw new OpspawnError(ErrorCodes.SCAFFOLD_INVALID, message, { hint });
}

export function registerPluginScaffoldCommand(plugins: Command): void {
  plugins
    .command('new <name>')
    .description(
      "write a new plugin package: manifest, source with definePlugin, a test running its kind's contract suite, README",
    )
    .requiredOption('-k, --kind <kind>', `what it provides: ${PLUGIN_KINDS.join(', ')}`)
    .option('--package <name>', 'npm package name (default: opspawn-plugin-<name>)')
    .option('--dir <folder>', 'where to write it (default: ./<package name without scope>)')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { kind: string; package?: string; dir?: string; json?: boolean }) => {
      if (!ID.test(name))
        refuse(
          `'${name}' is not a plugin id`,
          'use lowercase letters, digits and dashes, starting with a letter, e.g. my-tool',
        );
      if (!(PLUGIN_KINDS as readonly string[]).includes(opts.kind))
        refuse(`'${opts.kind}' is not a plugin kind`, `choose one of: ${PLUGIN_KINDS.join(', ')}`);
      const packageName = opts.package ?? `opspawn-plugin-${name}`;
      if (!PACKAGE_NAME.test(packageName))
        refuse(`'${packageName}' is not a valid npm package name`, 'use lowercase, e.g. @acme/opspawn-weather');
      const dir = resolve(opts.dir ?? packageName.replace(/^@[^/]+\//, ''));
      if (existsSync(dir) && readdirSync(dir).length > 0)
        refuse(`${dir} already exists and is not empty`, 'choose another --dir, or remove the folder');

      const pascal = name
        .split('-')
        .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
        .join('');
      const files = scaffoldFiles({ id: name, packageName, pascal }, opts.kind as PluginKind);
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      if (opts.json) {
        printJson({ ok: true, id: name, kind: opts.kind, packageName, dir, files: Object.keys(files) });
        return;
      }
      const shown = relative(process.cwd(), dir) || '.';
      process.stdout.write(
        `created ${opts.kind} plugin '${name}' (package ${packageName}) in ${shown}\n` +
          Object.keys(files)
            .map((f) => `  ${f}\n`)
            .join('') +
          `next:\n  cd ${shown}\n  npm install\n  npm test\n`,
      );
    });
}
