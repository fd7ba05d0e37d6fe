import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createJiti } from 'jiti';
import {
  ErrorCodes,
  OpspawnError,
  OpspawnProblems,
  describeError,
  type OpspawnConfig,
  type PluginEntry,
} from '@opspawn/plugin-sdk';
import { createAjv, describeAjvError } from './ajv.js';
import { configSchema } from './config-schema.js';
import { substituteEnv } from './env-substitution.js';

export const CONFIG_FILE_NAMES = [
  'opspawn.config.ts',
  'opspawn.config.mts',
  'opspawn.config.mjs',
  'opspawn.config.js',
  'opspawn.config.json',
];

/** `opspawn.config.{ts,mts,mjs,js,json}`: the names above, as help and errors spell them. */
export const CONFIG_FILE_PATTERN = `opspawn.config.{${CONFIG_FILE_NAMES.map((n) => n.slice('opspawn.config.'.length)).join(',')}}`;

/** A config after env substitution and shape validation, with string entries expanded. */
export interface LoadedConfig {
  config: Omit<OpspawnConfig, 'plugins'> & { plugins: PluginEntry[] };
  /** The file it came from; undefined for configs given in code. */
  path?: string;
  /** Where relative plugin paths resolve from. */
  dir: string;
}

/** `--config` first, then OPSPAWN_CONFIG, then the first `opspawn.config.*` in `cwd`. */
export function findConfigFile(explicit: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string {
  const given = explicit ?? env.OPSPAWN_CONFIG;
  if (given) {
    const path = resolve(cwd, given);
    if (!existsSync(path)) {
      throw new OpspawnError(ErrorCodes.CONFIG_NOT_FOUND, `config file ${path} does not exist`, {
        hint: explicit ? 'check the --config path' : 'check the OPSPAWN_CONFIG path',
      });
    }
    return path;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new OpspawnError(ErrorCodes.CONFIG_NOT_FOUND, `no ${CONFIG_FILE_PATTERN} in ${cwd}`, {
    hint: 'run from your deployment folder, or pass --config <file>',
  });
}

/** Reads a config file as is: TypeScript through jiti (no build step for users), JSON, or native ESM/CJS. */
export async function readConfigFile(path: string): Promise<unknown> {
  try {
    const ext = extname(path);
    if (ext === '.json') return JSON.parse(await readFile(path, 'utf8'));
    if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
      const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false });
      return await jiti.import(path, { default: true });
    }
    const mod = (await import(`${pathToFileURL(path).href}?t=${Date.now()}`)) as { default?: unknown };
    return mod.default ?? mod;
  } catch (error) {
    throw new OpspawnError(
      ErrorCodes.CONFIG_LOAD_FAILED,
      `could not load ${path}: ${describeError(error).split('\n')[0]}`,
      {
        hint: 'fix the syntax error or failing import in the config file',
        cause: error,
      },
    );
  }
}

/**
 * Substitutes `${ENV}` and checks the config's shape, reporting every problem at once. Plugin options are
 * checked later, against each plugin's schema.
 */
export function normalizeConfig(raw: unknown, env: NodeJS.ProcessEnv): LoadedConfig['config'] {
  const problems: OpspawnError[] = [];
  const validate = createAjv({ useDefaults: false }).compile(configSchema);
  if (!validate(raw)) {
    for (const error of validate.errors ?? []) {
      // anyOf reports each branch; the branch errors say more than the summary.
      if (error.keyword === 'anyOf') continue;
      const described = describeAjvError(error, '');
      const { path } = described;
      // NaN breaks every numeric rule at once; it nearly always comes from Number() of an unset or misspelt
      // environment variable, so say that once instead of "must be integer, must be >= 1, must be <= 10000".
      const message = Number.isNaN(valueAt(raw, error.instancePath))
        ? 'is NaN (not a number): a Number() of text that is no number, such as an unset or misspelt environment variable'
        : described.message;
      const fix =
        error.keyword === 'additionalProperties'
          ? `opspawn config unset ${path}`
          : path
            ? `opspawn config set ${path} <value>`
            : undefined;
      problems.push(
        new OpspawnError(ErrorCodes.CONFIG_INVALID, `${path || 'config'}: ${message}`, {
          hint: fix ? `${fix} (see docs/reference/config.md)` : 'see docs/reference/config.md',
          details: { path },
        }),
      );
    }
    throw new OpspawnProblems(dedupe(problems));
  }
  const config = substituteEnv(raw as OpspawnConfig, env, problems);
  if (problems.length > 0) throw new OpspawnProblems(problems);
  return { ...config, plugins: config.plugins.map((entry) => (typeof entry === 'string' ? { use: entry } : entry)) };
}

export async function loadConfig(
  options: { path?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const path = findConfigFile(options.path, cwd, env);
  const raw = await readConfigFile(path);
  return { config: normalizeConfig(raw, env), path, dir: dirname(path) };
}

/** The value at a JSON pointer (`/tasks/concurrency`) of what ajv checked. */
function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const key of pointer.split('/').slice(1))
    value = (value as Record<string, unknown> | undefined)?.[key.replaceAll('~1', '/').replaceAll('~0', '~')];
  return value;
}

function dedupe(problems: OpspawnError[]): OpspawnError[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    if (seen.has(p.message)) return false;
    seen.add(p.message);
    return true;
  });
}
