import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

const WHOLE = /^\{\{\s*([^{}]+?)\s*\}\}$/;
const EMBEDDED = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** `steps[0].output.sum`, `steps.0.output`, `input.x` → path segments. */
function segments(expr: string): string[] {
  return expr
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s.length > 0);
}

/** Segments back to the bracket form users write: `steps[1][0].output`. */
function pathText(keys: string[]): string {
  return keys.map((k, i) => (/^\d+$/.test(k) ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Reads `expr` from `scope`; `where` names the step or the final answer for the error. Own properties only. */
export function lookup(scope: Record<string, unknown>, expr: string, where: string): unknown {
  const keys = segments(expr);
  let value: unknown = scope;
  for (const [i, key] of keys.entries()) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) {
      const missing = pathText(keys.slice(0, i + 1));
      throw new OpspawnError(
        ErrorCodes.PLANNER_FAILED,
        `${where}: template {{ ${expr} }} does not resolve: ${missing} does not exist`,
        {
          hint: 'templates read goal, input.*, steps[N].output (N counts from 0, earlier steps only), steps[N][M].output (parallel steps) and last.output',
          details: [{ path: where, template: expr, missing }],
        },
      );
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Fills `{{ expr }}` templates. A string that is exactly one template becomes the value itself (an object, a
 * number...); templates inside longer strings are replaced by the value's text (strings as they are, other
 * values as JSON).
 */
export function render(value: unknown, scope: Record<string, unknown>, where: string): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return lookup(scope, whole[1]!, where);
    return value.replace(EMBEDDED, (_, expr: string) => {
      const found = lookup(scope, expr, where);
      return typeof found === 'string' ? found : String(JSON.stringify(found));
    });
  }
  if (Array.isArray(value)) return value.map((v) => render(v, scope, where));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope, where)]));
  }
  return value;
}
