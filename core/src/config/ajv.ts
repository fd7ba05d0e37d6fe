import { Ajv, type ErrorObject } from 'ajv';
import formatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a `default` property; NodeNext sees the module object.
const addFormats = ((formatsModule as unknown as { default?: typeof formatsModule }).default ??
  formatsModule) as unknown as (ajv: Ajv) => Ajv;

/** An ajv instance that reports every error and fills in schema defaults. */
export function createAjv(options: { useDefaults?: boolean } = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: options.useDefaults ?? true, strict: false, coerceTypes: false });
  addFormats(ajv);
  return ajv;
}

/** `path: message` for one ajv error, with `prefix` before the instance path (`options.path`). */
export function describeAjvError(error: ErrorObject, prefix: string): { path: string; message: string } {
  let path = prefix + error.instancePath.replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties') {
    path = `${path}.${(error.params as { additionalProperty: string }).additionalProperty}`;
    message = 'is not a known option';
  } else if (error.keyword === 'required') {
    path = `${path}.${(error.params as { missingProperty: string }).missingProperty}`;
    message = 'is required';
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return { path: path.replace(/^\./, ''), message };
}
