import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PATH = /^(goal|input)((?:\.[A-Za-z0-9_-]+|\[\d+\])*)$/;

/**
 * Fills an agent's instructions from a task: `{{ goal }}`, `{{ input.topic }}`, `{{ input.items[0].name }}`.
 * Only lookups of the task's goal and input, own properties only: nothing is evaluated. A string value is inserted
 * as is, any other as JSON. A template that does not resolve is refused with TASK_INVALID naming it, so a
 * submission missing an input the agent needs fails at submit, not in the worker.
 */
export function renderInstructions(
  instructions: string,
  agentId: string,
  task: { goal: string; input: unknown },
): string {
  return instructions.replace(TEMPLATE, (_, expr: string) => {
    const match = PATH.exec(expr);
    if (!match) throw invalid(agentId, expr, 'templates read goal and input.* only');
    let value: unknown = match[1] === 'goal' ? task.goal : task.input;
    const keys = [...match[2]!.matchAll(/\.([A-Za-z0-9_-]+)|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]!);
    for (const key of keys) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key))
        throw invalid(agentId, expr, `the task has no ${expr}`);
      value = (value as Record<string, unknown>)[key];
    }
    return typeof value === 'string' ? value : String(JSON.stringify(value));
  });
}

function invalid(agentId: string, expr: string, why: string): OpspawnError {
  return new OpspawnError(
    ErrorCodes.TASK_INVALID,
    `agent '${agentId}': its instructions' template {{ ${expr} }} does not resolve: ${why}`,
    {
      hint: `give the task the input agent '${agentId}' expects (see its instructions in the config)`,
      details: [{ path: 'input', message: `{{ ${expr} }} does not resolve` }],
    },
  );
}
