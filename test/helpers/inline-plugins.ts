import {
  definePlugin,
  extensionPoints,
  type InlinePlugin,
  type PluginEntry,
  type ToolCallContext,
  type ToolSpec,
} from '@opspawn/plugin-sdk';

/** A test tool: its behaviour is the function; the spec's input schema is checked by the kernel. */
export interface TestTool extends ToolSpec {
  run(args: any, ctx: ToolCallContext): Promise<unknown> | unknown;
}

/** A tool provider plugin defined in code, namespaced `ns`, for tests. */
export function toolsPlugin(id: string, ns: string, tools: TestTool[]): InlinePlugin {
  return {
    manifest: { id, version: '1.0.0', kinds: ['tool-provider'], kernel: '^1.0.0' },
    plugin: definePlugin({
      register(env) {
        env.provide(extensionPoints.toolProvider, {
          create: () => ({
            namespace: ns,
            list: async () => tools.map(({ run: _run, ...spec }) => spec),
            call: async (name: string, args: unknown, ctx: ToolCallContext) => {
              const tool = tools.find((t) => t.name === name);
              if (!tool) throw new Error(`no tool ${name}`);
              return { output: await tool.run(args, ctx) };
            },
          }),
        });
      },
    }),
  };
}

/** `double`: answers `{ value: 2x }`. */
export const DOUBLE_TOOL: TestTool = {
  name: 'double',
  description: 'doubles x',
  inputSchema: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] },
  run: (args: { x: number }) => ({ value: args.x * 2 }),
};

/** `broken`: every call fails. */
export const BROKEN_TOOL: TestTool = {
  name: 'broken',
  description: 'always fails',
  inputSchema: { type: 'object' },
  run: () => {
    throw new Error('the broken tool broke');
  },
};

export const EMBEDDED_MEMORY_PLUGINS = [
  '@opspawn/store-memory',
  '@opspawn/broker-memory',
  '@opspawn/memory-buffer',
  '@opspawn/planner-scripted',
];

/** The embedded default on a SQLite file: what `opspawn start` runs with no services. */
export function embeddedSqlitePlugins(path: string): Array<string | PluginEntry> {
  return [{ use: '@opspawn/store-sqlite', options: { path } }, ...EMBEDDED_MEMORY_PLUGINS.slice(1)];
}
