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
  /** The README's paragraph on what the example does and what to change. */
  readme: string;
}

/** The first lines of every scaffold test: where the package is, so the kernel loads it as a deployment would. */
export function testPreamble(imports: string): string {
  return `import { fileURLToPath } from 'node:url';
${imports}

/** This package's folder: the kernel loads the built plugin (dist/) from it, as a deployment would. */
const packageDir = fileURLToPath(new URL('..', import.meta.url));
`;
}

/** A test that the plugin boots from its package and reports itself started. */
export function bootTest(names: ScaffoldNames, options = '{}'): string {
  return `
describe('${names.id} in a kernel', () => {
  it('boots from its package and is started', async () => {
    const kernel = await startTestKernel({ plugins: [{ use: packageDir, options: ${options} }] });
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
  p: { kind: string; suite: string; value: string; options?: string; suiteOptions?: string },
): string {
  return `${testPreamble(`import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { ${p.suite}, startTestKernel } from '@opspawn/testing';`)}
// Every ${p.kind}, ours or anyone's, runs the SDK's contract suite: here against the plugin as the kernel loads it.
${p.suite}('${n.id}', async () => {
  const kernel = await startTestKernel({ plugins: [{ use: packageDir${p.options ? `, options: ${p.options}` : ''} }] });
  return { ${p.kind}: ${p.value}, cleanup: () => kernel.stop() };
}${p.suiteOptions ? `, ${p.suiteOptions}` : ''});
${bootTest(n)}`;
}
