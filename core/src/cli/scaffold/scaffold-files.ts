import { KERNEL_API_VERSION, type PluginKind } from '@opspawn/plugin-sdk';
import { CORE_VERSION } from '../../version.js';
import { literal, TEST_OPTIONS, testOptions, type KindTemplate, type ScaffoldNames } from './kind-template.js';
import { brokerTemplate } from './kinds/broker.js';
import { memoryTemplate } from './kinds/memory.js';
import { plannerTemplate } from './kinds/planner.js';
import { storeTemplate } from './kinds/store.js';
import { toolProviderTemplate } from './kinds/tool-provider.js';
import { transportTemplate } from './kinds/transport.js';

export const KIND_TEMPLATES: Record<PluginKind, (names: ScaffoldNames) => KindTemplate> = {
  store: storeTemplate,
  broker: brokerTemplate,
  planner: plannerTemplate,
  memory: memoryTemplate,
  'tool-provider': toolProviderTemplate,
  transport: transportTemplate,
};

/**
 * The toolchain a scaffold builds and tests with: the versions this repository builds and tests itself with, so a
 * new plugin starts from a combination known to work (test/core/cli-plugins-new.test.ts keeps them in step).
 */
export const SCAFFOLD_TOOLCHAIN: Record<string, string> = {
  '@types/chai': '^5.2.3',
  '@types/mocha': '^10.0.10',
  '@types/node': '^20.19.43',
  chai: '^5.3.3',
  mocha: '^11.8.0',
  tsx: '^4.23.15',
  typescript: '~5.9.3',
};

const major = (version: string) => version.split('.')[0];

/** Every file of a new plugin package, by path relative to its folder. */
export function scaffoldFiles(names: ScaffoldNames, kind: PluginKind): Record<string, string> {
  const t = KIND_TEMPLATES[kind](names);
  const sdkRange = `^${major(KERNEL_API_VERSION)}.0.0`;
  const configSchema = {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(t.options.map((o) => [o.name, o.schema])),
  };
  const packageJson = {
    name: names.packageName,
    version: '0.1.0',
    description: t.description,
    type: 'module',
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
    // src/ too: the source maps in dist/ point at it.
    files: ['dist', 'src', 'README.md'],
    keywords: ['opspawn', 'opspawn-plugin', kind],
    license: 'Apache-2.0',
    engines: { node: '>=20.10' },
    // A scoped package (@acme/...) is private on the public registry unless published public.
    publishConfig: { access: 'public' },
    scripts: { build: 'tsc -p tsconfig.json', test: 'npm run build && mocha', prepack: 'npm run build' },
    opspawn: {
      id: names.id,
      kinds: [kind],
      kernel: `^${major(KERNEL_API_VERSION)}.0.0`,
      description: t.description,
      configSchema,
    },
    peerDependencies: { '@opspawn/plugin-sdk': sdkRange },
    devDependencies: {
      '@opspawn/plugin-sdk': sdkRange,
      // The test kernel; it brings the kernel (@opspawn/core) it boots, and is released in step with it.
      '@opspawn/testing': `^${major(CORE_VERSION)}.0.0`,
      ...SCAFFOLD_TOOLCHAIN,
    },
  };
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      declaration: true,
      sourceMap: true,
      skipLibCheck: true,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  };
  const mocharc = { spec: ['test/**/*.test.ts'], 'node-option': ['import=tsx'], timeout: 30000 };
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    'package.json': json(packageJson),
    'tsconfig.json': json(tsconfig),
    '.mocharc.json': json(mocharc),
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    [`src/${t.implementation.file}`]: t.implementation.source,
    'src/index.ts': t.index,
    'test/plugin.test.ts': t.test.replace(TEST_OPTIONS, literal(testOptions(t.options, t.testOptions))),
    'README.md': readme(names, kind, t),
  };
}

function readme(names: ScaffoldNames, kind: PluginKind, t: KindTemplate): string {
  const rows = t.options.map(
    (o) =>
      `| \`${o.name}\` | ${o.schema.type}${o.schema.minimum === undefined ? '' : ` ≥ ${o.schema.minimum}`} | \`${JSON.stringify(o.schema.default)}\` | ${o.schema.description}. |`,
  );
  return `# ${names.packageName}

An [Opspawn](https://github.com/opspawn/opspawn) ${kind} plugin (id \`${names.id}\`). ${t.description}

## Install
\`\`\`sh
npx opspawn plugins add ${names.packageName}
\`\`\`
\`plugins add\` installs it with npm, checks it against your kernel and plugins, and adds it to \`opspawn.config.ts\`:
\`\`\`ts
plugin('${names.packageName}', { ${t.options.map((o) => `${o.name}: ${JSON.stringify(o.schema.default)}`).join(', ')} }),
\`\`\`

## Options
| option | type | default | meaning |
|---|---|---|---|
${rows.join('\n')}

## What it does
${t.readme}

## Develop
\`\`\`sh
npm test        # builds, boots the plugin in a real kernel and runs its checks
npm pack        # the tarball you would publish: dist/, src/ (for the source maps), README.md, package.json
npm publish     # then, in a deployment: npx opspawn plugins add ${names.packageName}
\`\`\`
It supports kernel API ${`^${major(KERNEL_API_VERSION)}.0.0`} (\`opspawn.kernel\` in package.json); see the Opspawn docs,
\`docs/reference/compatibility.md\`, for what a kernel or SDK version promises.
`;
}
