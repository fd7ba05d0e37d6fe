import { bootTest, testPreamble, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function toolProviderTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: 'Text tools for Opspawn agents: count_words, with JSON Schema input and output.',
    options: [
      {
        name: 'maxTextLength',
        schema: {
          type: 'integer',
          minimum: 1,
          default: 100000,
          description: 'Longest text a tool accepts, in characters',
        },
      },
    ],
    readme: `Provides the tool \`${n.id}__count_words\`: \`{ "text": string }\` in, \`{ "words": integer }\` out. Replace it with
your own tools in \`src/text-tools.ts\`: each needs a name, a description and a JSON Schema for its input (the
kernel validates arguments against it before \`call\` runs) and, ideally, its output.`,
    implementation: {
      file: 'text-tools.ts',
      source: `import { ErrorCodes, OpspawnError, type ToolCallContext, type ToolCallResult, type ToolProvider, type ToolSpec } from '@opspawn/plugin-sdk';

export interface TextToolsOptions {
  /** Longest text a tool accepts, in characters. */
  maxTextLength: number;
}

const COUNT_WORDS: ToolSpec = {
  name: 'count_words',
  description: 'Counts the words of a text (runs of non-blank characters).',
  inputSchema: {
    type: 'object',
    properties: { text: { type: 'string', description: 'The text whose words to count' } },
    required: ['text'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: { words: { type: 'integer', minimum: 0 } },
    required: ['words'],
  },
};

/** Tools an agent can call. The kernel names each \`<namespace>__<tool>\` and checks arguments against inputSchema. */
export class TextTools implements ToolProvider {
  constructor(readonly namespace: string, private readonly options: TextToolsOptions) {}

  async list(): Promise<ToolSpec[]> {
    return [COUNT_WORDS];
  }

  async call(name: string, args: unknown, ctx: ToolCallContext): Promise<ToolCallResult> {
    ctx.signal.throwIfAborted();
    if (name !== COUNT_WORDS.name) {
      throw new OpspawnError(ErrorCodes.TOOL_NOT_FOUND, \`no tool '\${name}' in \${this.namespace}\`, { hint: 'list the tools first' });
    }
    const { text } = args as { text: string };
    if (text.length > this.options.maxTextLength) {
      return { output: { message: \`the text has \${text.length} characters; the most is \${this.options.maxTextLength}\` }, isError: true };
    }
    return { output: { words: text.split(/\\s+/).filter(Boolean).length } };
  }
}
`,
    },
    index: `import { definePlugin, extensionPoints } from '@opspawn/plugin-sdk';
import { TextTools, type TextToolsOptions } from './text-tools.js';

export { TextTools, type TextToolsOptions } from './text-tools.js';

export default definePlugin<TextToolsOptions>({
  register(env) {
    // The plugin id is the tools' namespace: '${n.id}__count_words'.
    env.provide(extensionPoints.toolProvider, { create: () => new TextTools(env.id, env.options) });
  },
});
`,
    test: `${testPreamble(`import { expect } from 'chai';
import { services } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';`)}
describe('${n.id} tools, called through the kernel\\'s tool registry', () => {
  let kernel: TestKernel;
  const call = (name: string, args: unknown) =>
    kernel.get(services.toolRegistry).call(name, args, { signal: new AbortController().signal, log: () => undefined });

  before(async () => {
    kernel = await startTestKernel({ plugins: [{ use: packageDir, options: { ...options, maxTextLength: 20 } }] });
  });
  after(() => kernel.stop());

  it('lists count_words under the plugin\\'s namespace, with its schemas', async () => {
    const tools = await kernel.get(services.toolRegistry).list();
    const tool = tools.find((t) => t.name === '${n.id}__count_words');
    expect(tool?.inputSchema).to.have.nested.property('properties.text.type', 'string');
    expect(tool?.outputSchema).to.have.nested.property('properties.words.type', 'integer');
  });

  it('counts words', async () => {
    expect(await call('${n.id}__count_words', { text: ' one two  three ' })).to.deep.equal({ ok: true, output: { words: 3 } });
  });

  it('refuses arguments that do not match the input schema', async () => {
    const observation = await call('${n.id}__count_words', { text: 42 });
    expect(observation.ok).to.equal(false);
  });

  it('reports a text longer than maxTextLength as a failed call', async () => {
    const observation = await call('${n.id}__count_words', { text: 'x'.repeat(21) });
    expect(observation.ok).to.equal(false);
  });
});
${bootTest(n)}`,
  };
}
