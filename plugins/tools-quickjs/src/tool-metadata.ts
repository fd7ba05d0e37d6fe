import type { ToolSpec } from '@opspawn/plugin-sdk';
import { CAPABILITY_NAMES } from './options.js';

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export type CheckedTool = { ok: true; spec: ToolSpec; capabilities: string[] } | { ok: false; message: string };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks what a tool file's default export declares; the message says which field is wrong and how. */
export function checkToolMetadata(meta: unknown): CheckedTool {
  if (!isPlainObject(meta)) return { ok: false, message: 'its default export is not an object' };
  const { name, description, inputSchema, outputSchema, capabilities, run } = meta;
  const problems: string[] = [];
  if (typeof name !== 'string' || !TOOL_NAME.test(name))
    problems.push(`name must be 1-64 letters, digits, '_' or '-' (got ${JSON.stringify(name) ?? 'nothing'})`);
  if (typeof description !== 'string' || description.trim() === '')
    problems.push('description must be a non-empty string');
  if (!isPlainObject(inputSchema)) problems.push('inputSchema must be a JSON Schema object');
  else if (inputSchema.type !== 'object')
    problems.push(
      `inputSchema.type must be "object" (tools take an object of arguments), got ${JSON.stringify(inputSchema.type) ?? 'nothing'}`,
    );
  if (outputSchema !== undefined && !isPlainObject(outputSchema))
    problems.push('outputSchema, when given, must be a JSON Schema object');
  if (run !== 'function') problems.push('run must be a function: run(input) { ... } (async allowed)');
  let declared: string[] = [];
  if (capabilities !== undefined) {
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string'))
      problems.push('capabilities, when given, must be an array of names');
    else {
      declared = capabilities as string[];
      const unknown = declared.filter((c) => !(CAPABILITY_NAMES as readonly string[]).includes(c));
      if (unknown.length > 0)
        problems.push(
          `capabilities ${unknown.map((c) => `'${c}'`).join(', ')} unknown (known: ${CAPABILITY_NAMES.join(', ')})`,
        );
    }
  }
  if (problems.length > 0) return { ok: false, message: problems.join('; ') };
  const spec: ToolSpec = {
    name: name as string,
    description: description as string,
    inputSchema: inputSchema as Record<string, unknown>,
  };
  if (outputSchema !== undefined) spec.outputSchema = outputSchema as Record<string, unknown>;
  return { ok: true, spec, capabilities: declared };
}
