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
