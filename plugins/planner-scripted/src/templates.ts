import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

const WHOLE = /^\{\{\s*([^{}]+?)\s*\}\}$/;
const EMBEDDED = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** `steps[0].output.sum`, `steps.0.output`, `input.x` → path segments. */
function segments(expr: string): string[] {
  return expr.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s.length > 0);
}

export function lookup(scope: Record<string, unknown>, expr: string, where: string): unknown {
  let value: unknown = scope;
  for (const key of segments(expr)) {
    if (value === null || typeof value !== 'object' || !(key in (value as object)) || key === '__proto__' || key === 'constructor') {
      throw new OpspawnError(ErrorCodes.PLANNER_FAILED, `${where}: template {{ ${expr} }} does not resolve ('${key}' is missing)`, {
        hint: 'templates can read goal, input.*, steps[N].output, steps[N][M].output (parallel steps) and last.output',
      });
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Fills `{{ expr }}` templates. A string that is exactly one template becomes the value itself (an object, a
 * number...); templates inside longer strings are replaced by the value's text.
 */
export function render(value: unknown, scope: Record<string, unknown>, where: string): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(scope, whole[1]!, where);
    return value.replace(EMBEDDED, (_, expr: string) => {
      const found = lookup(scope, expr, where);
      return typeof found === 'string' ? found : JSON.stringify(found);
    });
  }
  if (Array.isArray(value)) return value.map((v) => render(v, scope, where));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope, where)]));
  }
  return value;
}
