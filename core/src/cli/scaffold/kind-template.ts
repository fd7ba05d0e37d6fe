/** What `opspawn plugins new` needs to know about the plugin it writes. */
export interface ScaffoldNames {
  /** The plugin id, e.g. `my-tool`. */
  id: string;
  /** The npm package name, e.g. `opspawn-plugin-my-tool`. */
  packageName: string;
  /** The id in PascalCase, for class names: `MyTool`. */
  pascal: string;
}

/** One option of the example plugin: its schema and the README's words for it. */
export interface ScaffoldOption {
  name: string;
  schema: { type: string; default: unknown; minimum?: number; description: string };
}

/** The example a kind's scaffold starts from: a real implementation, its plugin entry and its test. */
export interface KindTemplate {
  /** One line: package.json's description and the README's first sentence. */
  description: string;
  options: ScaffoldOption[];
  /** `src/<file>`: the implementation, free of kernel wiring so it can be used and tested on its own. */
  implementation: { file: string; source: string };
  /** `src/index.ts`: the plugin's default export. */
  index: string;
  /** `test/plugin.test.ts`: boots the built plugin in a real kernel and runs the kind's checks. */
  test: string;
  /** What the tests' options change from the defaults (e.g. `{ port: 0 }`). */
  testOptions?: Record<string, unknown>;
  /** The README's paragraph on what the example does and what to change. */
  readme: string;
}

/**
 * The options every test of a scaffold boots the plugin with: each option at its default (so valid for the
 * configSchema the scaffold writes), then `overrides`.
 */
export function testOptions(
  options: ScaffoldOption[],
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return { ...Object.fromEntries(options.map((o) => [o.name, o.schema.default])), ...overrides };
}

/** Where a test's options go; scaffoldFiles writes them there from the kind's options and its testOptions. */
export const TEST_OPTIONS = '__SCAFFOLD_TEST_OPTIONS__';

/** An object as TypeScript source on one line: \`{ port: 0, host: '127.0.0.1' }\`. */
export function literal(value: Record<string, unknown>): string {
  const source = (v: unknown) => (typeof v === 'string' ? `'${v.replace(/[\\']/g, '\\$&')}'` : JSON.stringify(v));
  const entries = Object.entries(value).map(([k, v]) => `${k}: ${source(v)}`);
  return entries.length ? `{ ${entries.join(', ')} }` : '{}';
}

/**
 * The first lines of every scaffold test: where the package is, so the kernel loads it as a deployment would, and
 * the options it is booted with, written out so that an option the author makes required has its place.
 */
export function testPreamble(imports: string): string {
  return `import { fileURLToPath } from 'node:url';
${imports}

/** This package's folder: the kernel loads the built plugin (dist/) from it, as a deployment would. */
const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Options valid for this plugin's configSchema (package.json): every test boots the plugin with them. */
// An option you make required (no default) goes here too, with a valid value.
const options = ${TEST_OPTIONS};
`;
}

/** A test that the plugin boots from its package, with the preamble's options, and reports itself started. */
export function bootTest(names: ScaffoldNames): string {
  return `
describe('${names.id} in a kernel', () => {
  it('boots from its package and is started', async () => {
    const kernel = await startTestKernel({ plugins: [{ use: packageDir, options }] });
    try {
      expect(kernel.plugins().find((p) => p.id === '${names.id}')?.status).to.equal('started');
    } finally {
      await kernel.stop();
    }
  });
});
`;
}

/** `src/index.ts` of a plugin that provides one value of an extension point, made by `new <className>(env.options)`. */
export function providerIndex(p: { point: string; className: string; module: string; dispose?: string }): string {
  const options = `${p.className}Options`;
  const provider = p.dispose
    ? `{\n      create: () => new ${p.className}(env.options),\n      ${p.dispose},\n    }`
    : `{ create: () => new ${p.className}(env.options) }`;
  return `import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { ${p.className}, type ${options} } from './${p.module}.js';

export { ${p.className}, type ${options} } from './${p.module}.js';

export default definePlugin<${options}>({
  register(env) {
    env.provide(extensionPoints.${p.point}, ${provider});
  },
});
`;
}

/** `test/plugin.test.ts` that runs an SDK contract suite against the plugin as a kernel loads it. */
export function contractTest(
  n: ScaffoldNames,
  p: { kind: string; suite: string; value: string; suiteOptions?: string },
): string {
  return `${testPreamble(`import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { ${p.suite}, startTestKernel } from '@opspawn/testing';`)}
// Every ${p.kind}, ours or anyone's, runs the SDK's contract suite: here against the plugin as the kernel loads it.
${p.suite}('${n.id}', async () => {
  const kernel = await startTestKernel({ plugins: [{ use: packageDir, options }] });
  return { ${p.kind}: ${p.value}, cleanup: () => kernel.stop() };
}${p.suiteOptions ? `, ${p.suiteOptions}` : ''});
${bootTest(n)}`;
}
