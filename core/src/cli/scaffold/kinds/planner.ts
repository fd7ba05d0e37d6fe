import { contractTest, providerIndex, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function plannerTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: 'A planner that hands the goal to one tool and answers with what the tool returned.',
    options: [
      {
        name: 'tool',
        schema: {
          type: 'string',
          default: 'echo__say',
          description: 'Namespaced tool the goal is given to as { text }',
        },
      },
    ],
    readme: `On the first step it calls the tool named by \`tool\` with \`{ "text": <the goal> }\` when the task offers that
tool, and answers with the tool's output on the next step; without the tool it answers with the goal. Replace the
rule in \`src/relay-planner.ts\` with yours (a model, a search): the planner contract suite in
\`test/plugin.test.ts\` tells you when it keeps the promises of a planner.`,
    implementation: {
      file: 'relay-planner.ts',
      source: `import type { PlanDecision, PlanRequest, Planner } from '@opspawn/plugin-sdk';

export interface RelayPlannerOptions {
  /** Namespaced tool the goal is given to, as \`{ text }\`. */
  tool: string;
}

/** Calls one tool with the goal, then answers with its output. */
export class RelayPlanner implements Planner {
  constructor(private readonly options: RelayPlannerOptions) {}

  async plan(request: PlanRequest): Promise<PlanDecision> {
    request.signal.throwIfAborted();
    const last = request.history.at(-1)?.calls.at(-1);
    if (last) {
      return last.observation.ok
        ? { kind: 'final', output: last.observation.output }
        : { kind: 'final', output: { error: last.observation.error } };
    }
    if (request.tools.some((t) => t.name === this.options.tool)) {
      return { kind: 'tools', calls: [{ id: \`\${request.task.id}-1\`, tool: this.options.tool, arguments: { text: request.task.goal } }] };
    }
    return { kind: 'final', output: { answer: request.task.goal } };
  }
}
`,
    },
    index: providerIndex({ point: 'planner', className: 'RelayPlanner', module: 'relay-planner' }),
    test: contractTest(n, {
      kind: 'planner',
      suite: 'plannerContract',
      value: `kernel.get(extensionPoints.planner).find((p) => p.plugin === '${n.id}')!.value`,
      suiteOptions: '{ input: null }',
    }),
  };
}
