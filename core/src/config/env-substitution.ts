import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of plain config data. Functions and class
 * instances (inline plugins) pass through untouched. Every missing variable is reported, with its path.
 */
export function substituteEnv<T>(value: T, env: NodeJS.ProcessEnv, problems: OpspawnError[], path = ''): T {
  if (typeof value === 'string') {
    return value.replace(PATTERN, (whole, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(
        new OpspawnError(
          ErrorCodes.CONFIG_ENV_MISSING,
          `${path || 'config'}: environment variable ${name} is not set`,
          {
            hint: `export ${name}=... before starting, or write \${${name}:-default} in the config`,
            details: { path, variable: name },
          },
        ),
      );
      return whole;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, problems, `${path}[${i}]`)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, problems, path ? `${path}.${k}` : k);
    return out as T;
  }
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
