import type { PlanRequest } from './extension-points/planner.js';

/**
 * What LLM planners share in reading a model's output: tool-call arguments and JSON answers as models really send
 * them, and an agent's options for the planner.
 */

/**
 * Tool-call arguments as models send them: JSON text, sometimes JSON inside a JSON string, sometimes broken. Broken
 * text is handed on as it is: the tool's schema check gives the model a precise error to correct.
 */
export function parseToolArguments(raw: unknown): unknown {
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) return {};
  if (typeof raw !== 'string') return raw;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed === 'string') {
      try {
        return JSON.parse(parsed);
      } catch {
        return parsed;
      }
    }
    return parsed;
  } catch {
    return raw;
  }
}

/** A final answer that is a JSON object, possibly in a ```json fence; undefined when it is not one. */
export function parseJsonAnswer(text: string): unknown {
  const trimmed = text
    .trim()
    .replace(/^```(?:json)?\s*/, '')
    .replace(/```$/, '')
    .trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    return undefined;
  }
}

/** One of the task's agent's options for this planner, when it is set and of the expected type. */
export function agentOption<T extends 'string' | 'number'>(
  request: Pick<PlanRequest, 'agent'>,
  name: string,
  type: T,
): (T extends 'string' ? string : number) | undefined {
  const value = request.agent?.options[name];
  return typeof value === type ? (value as T extends 'string' ? string : number) : undefined;
}
