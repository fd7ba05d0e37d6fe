import { contractTest, providerIndex, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function memoryTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: 'Per-session message history kept in process memory, bounded to the newest messages.',
    options: [
      {
        name: 'maxMessages',
        schema: { type: 'integer', minimum: 1, default: 50, description: 'Most messages a planner sees' },
      },
    ],
    readme: `Keeps each session's messages in process memory and gives planners the newest \`maxMessages\` of them.
Replace \`src/window-memory.ts\` with your own storage (a database, a vector store): the memory contract suite in
\`test/plugin.test.ts\` tells you when it keeps the promises of a memory.`,
    implementation: {
      file: 'window-memory.ts',
      source: `import type { ChatMessage, Memory } from '@opspawn/plugin-sdk';

export interface WindowMemoryOptions {
  /** Most messages \`load\` returns: the newest ones. */
  maxMessages: number;
}

/** Each session's messages in process memory; lost when the process stops. Callers get copies. */
export class WindowMemory implements Memory {
  private readonly sessions = new Map<string, ChatMessage[]>();

  constructor(private readonly options: WindowMemoryOptions) {}

  async append(sessionId: string, messages: readonly ChatMessage[]): Promise<void> {
    const history = [...(this.sessions.get(sessionId) ?? []), ...structuredClone(messages)];
    this.sessions.set(sessionId, history.slice(-this.options.maxMessages));
  }

  async load(sessionId: string): Promise<ChatMessage[]> {
    return structuredClone(this.sessions.get(sessionId) ?? []);
  }

  async clear(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }
}
`,
    },
    index: providerIndex({ point: 'memory', className: 'WindowMemory', module: 'window-memory' }),
    test: contractTest(n, {
      kind: 'memory',
      suite: 'memoryContract',
      value: `kernel.get(extensionPoints.memory).find((p) => p.plugin === '${n.id}')!.value`,
    }),
  };
}
