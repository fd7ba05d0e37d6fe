import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  ErrorCodes,
  OpspawnError,
  type InlinePlugin,
  type PluginEntry,
  type ResolvedManifest,
} from '@opspawn/plugin-sdk';

/** A config entry whose package has been found and whose manifest has been read (no plugin code run). */
export interface PluginSource {
  entry: PluginEntry;
  /** Position in the config's plugin list, for messages. */
  index: number;
  manifest: ResolvedManifest;
  /** Raw `opspawn` field; checked by the static checks. */
  rawManifest: unknown;
  /** What to import to get the plugin's default export; undefined for inline plugins. */
  entryFile?: string;
  inline?: InlinePlugin;
}

export function describeSource(use: PluginEntry['use']): string {
  return typeof use === 'string' ? use : `inline:${use.manifest.id}`;
}

function isPathLike(use: string): boolean {
  return use.startsWith('.') || isAbsolute(use);
}

/** Finds the package directory for an npm name (walking node_modules upwards, as Node does) or a path. */
export function findPackageDir(use: string, fromDir: string): string | undefined {
  if (isPathLike(use)) {
    const dir = resolve(fromDir, use);
    return existsSync(join(dir, 'package.json')) ? dir : undefined;
  }
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', use);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Reads the entry's package.json; throws PLUGIN_NOT_FOUND or PLUGIN_MANIFEST_INVALID (no plugin code runs). */
export function readPluginSource(entry: PluginEntry, index: number, fromDir: string): PluginSource {
  const source = describeSource(entry.use);
  if (typeof entry.use !== 'string') {
    const { manifest } = entry.use;
    return {
      entry,
      index,
      inline: entry.use,
      rawManifest: manifest,
      manifest: { ...manifest, packageName: manifest.id, dir: fromDir, source },
    };
  }
  const dir = findPackageDir(entry.use, fromDir);
  if (!dir) {
    throw new OpspawnError(
      ErrorCodes.PLUGIN_NOT_FOUND,
      `plugin '${entry.use}' (plugins[${index}]) was not found from ${fromDir}`,
      {
        hint: isPathLike(entry.use)
          ? 'check the path: it must be a folder with a package.json'
          : `npm install ${entry.use}, or opspawn plugins add ${entry.use}`,
        plugin: entry.use,
      },
    );
  }
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new OpspawnError(
      ErrorCodes.PLUGIN_MANIFEST_INVALID,
      `plugin '${entry.use}': package.json is not valid JSON`,
      {
        hint: `fix ${join(dir, 'package.json')}`,
        plugin: entry.use,
        cause: error,
      },
    );
  }
  const raw = pkg.opspawn;
  if (typeof raw !== 'object' || raw === null) {
    throw new OpspawnError(
      ErrorCodes.PLUGIN_MANIFEST_INVALID,
      `package '${String(pkg.name ?? entry.use)}' has no "opspawn" manifest in its package.json, so it is not an Opspawn plugin`,
      {
        hint: 'add an "opspawn" field (see docs/reference/plugin-manifest.md)',
        plugin: entry.use,
      },
    );
  }
  const m = raw as Record<string, unknown>;
  return {
    entry,
    index,
    rawManifest: raw,
    entryFile: findEntryFile(dir, pkg),
    manifest: {
      id: String(m.id ?? ''),
      kinds: Array.isArray(m.kinds) ? (m.kinds as ResolvedManifest['kinds']) : [],
      kernel: String(m.kernel ?? ''),
      requires: (m.requires as Record<string, string> | undefined) ?? {},
      configSchema: m.configSchema as Record<string, unknown> | undefined,
      description: (m.description as string | undefined) ?? (pkg.description as string | undefined),
      version: String(pkg.version ?? '0.0.0'),
      packageName: String(pkg.name ?? entry.use),
      dir,
      source,
    },
  };
}

/** The file `import()` loads: exports["."] (import/default conditions), then main, then index.js. */
function findEntryFile(dir: string, pkg: Record<string, unknown>): string {
  const pick = (target: unknown): string | undefined => {
    if (typeof target === 'string') return target;
    if (typeof target === 'object' && target !== null) {
      const t = target as Record<string, unknown>;
      if ('.' in t) return pick(t['.']);
      return pick(t.import) ?? pick(t.node) ?? pick(t.default);
    }
    return undefined;
  };
  return join(dir, pick(pkg.exports) ?? (typeof pkg.main === 'string' ? pkg.main : 'index.js'));
}
