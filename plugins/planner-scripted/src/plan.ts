import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

export interface PlannedCall {
  tool: string;
  arguments: unknown;
  onError: 'fail' | 'continue';
}

/** A plan: steps, each one call or several calls run together, and an optional final template. */
export interface Plan {
  steps: PlannedCall[][];
  final?: unknown;
  /** False when the final answer is the last step's output. */
  hasFinal: boolean;
}

function invalid(path: string, message: string): never {
  throw new OpspawnError(ErrorCodes.TASK_INVALID, `${path} ${message}`, {
    hint: 'a scripted task input is { "plan": [ { "tool": "ns__name", "arguments": {...} }, ... ], "final"?: ... }',
    details: [{ path, message }],
  });
}

function readCall(value: unknown, path: string): PlannedCall {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(path, 'must be an object with a "tool"');
  const call = value as Record<string, unknown>;
  if (typeof call.tool !== 'string' || call.tool.length === 0) invalid(`${path}.tool`, 'must be a non-empty string');
  if (call.onError !== undefined && call.onError !== 'fail' && call.onError !== 'continue')
    invalid(`${path}.onError`, 'must be "fail" or "continue"');
  const args = call.arguments;
  const isTemplate = typeof args === 'string' && /^\{\{[^{}]+\}\}$/.test(args);
  if (args !== undefined && !isTemplate && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    invalid(`${path}.arguments`, 'must be an object (or one "{{ template }}" that gives an object)');
  }
  const known = new Set(['tool', 'arguments', 'onError']);
  for (const key of Object.keys(call))
    if (!known.has(key)) invalid(`${path}.${key}`, 'is not a known field (tool, arguments, onError)');
  return {
    tool: call.tool,
    arguments: call.arguments ?? {},
    onError: (call.onError as PlannedCall['onError']) ?? 'fail',
  };
}

/** Checks a task input and returns its plan; throws TASK_INVALID naming the exact field otherwise. */
export function validatePlan(input: unknown): Plan {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    invalid('input', 'must be an object with a "plan" array');
  const { plan, final } = input as { plan?: unknown; final?: unknown };
  if (!Array.isArray(plan)) invalid('input.plan', 'must be an array of steps');
  const steps = plan.map((step, i) => {
    const path = `input.plan[${i}]`;
    if (Array.isArray(step)) {
      if (step.length === 0) invalid(path, 'must not be an empty list of calls');
      return step.map((call, j) => readCall(call, `${path}[${j}]`));
    }
    return [readCall(step, path)];
  });
  if (steps.length === 0 && final === undefined)
    invalid('input.plan', 'is empty and there is no "final": nothing to do');
  return { steps, final, hasFinal: final !== undefined };
}
