import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, ToolSpec } from '@opspawn/plugin-sdk';
import { missingGrants, type QuickJsToolsOptions } from './options.js';
import type { SandboxOutcome } from './sandbox-protocol.js';
import { checkToolMetadata } from './tool-metadata.js';

/** A tool ready to call. */
export interface LoadedTool {
  spec: ToolSpec;
  file: string;
  source: string;
  /** Capabilities the file declares; it gets those the config also grants. */
  capabilities: string[];
}

/** A file (or directory) that gave no tool, and why. */
export interface ToolFileProblem {
  file: string;
  message: string;
}

/** A valid tool that is not offered because the config does not grant a capability it declares. */
export interface DisabledTool {
  name: string;
  file: string;
  missing: string[];
}

const TOOL_FILE = /^[^._].*\.(m?js)$/;

type Description = { ok: true; tool: Omit<LoadedTool, 'source' | 'file'> } | { ok: false; message: string };

/**
 * The tools found in the configured directories. Each `.js`/`.mjs` file is described in the sandbox (its
 * default export read under the same limits as a call), checked, and either loaded or reported by file name;
 * a broken file never hides the others. Files whose text did not change are not described again.
 */
export class ToolCatalog {
  private tools = new Map<string, LoadedTool>();
  private problems: ToolFileProblem[] = [];
  private disabled: DisabledTool[] = [];
  private readonly described = new Map<string, { source: string; description: Description }>();
  private reported = new Set<string>();

  constructor(
    private readonly dirs: readonly string[],
    private readonly options: QuickJsToolsOptions,
    private readonly describe: (file: string, source: string) => Promise<SandboxOutcome>,
    private readonly logger: Logger,
  ) {}

  get(name: string): LoadedTool | undefined {
    return this.tools.get(name);
  }

  specs(): ToolSpec[] {
    return [...this.tools.values()].map((t) => t.spec);
  }

  get fileProblems(): readonly ToolFileProblem[] {
    return this.problems;
  }

  get disabledTools(): readonly DisabledTool[] {
    return this.disabled;
  }

  /** Reads every directory again; true when the set of tools or their specs changed. */
  async load(): Promise<boolean> {
    const before = this.fingerprint();
    const tools = new Map<string, LoadedTool>();
    const problems: ToolFileProblem[] = [];
    const disabled: DisabledTool[] = [];
    const seenFiles = new Set<string>();
    for (const dir of this.dirs) {
      let names: string[];
      try {
        if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
        names = (await readdir(dir)).filter((n) => TOOL_FILE.test(n)).sort();
      } catch (error) {
        problems.push({ file: dir, message: `tool directory cannot be read: ${(error as Error).message}` });
        continue;
      }
      const files = names.map((n) => join(dir, n));
      const described = await Promise.all(
        files.map(async (file) => {
          seenFiles.add(file);
          try {
            return { file, ...(await this.describeFile(file)) };
          } catch (error) {
            return {
              file,
              source: '',
              description: { ok: false, message: `cannot be read: ${(error as Error).message}` } as Description,
            };
          }
        }),
      );
      for (const { file, source, description } of described) {
        if (!description.ok) {
          problems.push({ file, message: description.message });
          continue;
        }
        const { spec, capabilities } = description.tool;
        const clash = tools.get(spec.name) ?? disabled.find((d) => d.name === spec.name);
        if (clash) {
          problems.push({ file, message: `tool name '${spec.name}' is already defined by ${clash.file}` });
          continue;
        }
        const missing = missingGrants(this.options, spec.name, capabilities);
        if (missing.length > 0) disabled.push({ name: spec.name, file, missing });
        else tools.set(spec.name, { spec, capabilities, file, source });
      }
    }
    for (const file of this.described.keys()) if (!seenFiles.has(file)) this.described.delete(file);
    this.tools = tools;
    this.problems = problems;
    this.disabled = disabled;
    this.report();
    return before !== this.fingerprint();
  }

  private async describeFile(file: string): Promise<{ source: string; description: Description }> {
    const source = await readFile(file, 'utf8');
    const cached = this.described.get(file);
    if (cached && cached.source === source) return { source, description: cached.description };
    const outcome = await this.describe(file, source);
    let description: Description;
    if (!outcome.ok) description = { ok: false, message: outcome.message.replace(/^tool file \S+ /, '') };
    else {
      const checked = checkToolMetadata(JSON.parse(outcome.json));
      description = checked.ok
        ? { ok: true, tool: { spec: checked.spec, capabilities: checked.capabilities } }
        : { ok: false, message: `is not a valid tool: ${checked.message}` };
    }
    this.described.set(file, { source, description });
    return { source, description };
  }

  /** Logs each problem once, until it is fixed. */
  private report(): void {
    const now = new Set<string>();
    for (const p of this.problems) {
      const line = `tool file ${p.file} skipped: ${p.message}`;
      now.add(line);
      if (!this.reported.has(line)) this.logger.warn({ file: p.file }, line);
    }
    for (const d of this.disabled) {
      const line = `tool '${d.name}' (${d.file}) is not offered: it needs the capability ${d.missing.map((m) => `'${m}'`).join(', ')}, which the config does not grant`;
      now.add(line);
      if (!this.reported.has(line))
        this.logger.info(
          { file: d.file, tool: d.name },
          `${line} (fix: add capabilities.${d.missing[0]} to the plugin's options)`,
        );
    }
    this.reported = now;
  }

  private fingerprint(): string {
    return JSON.stringify([...this.tools.values()].map((t) => [t.file, t.source, t.spec]));
  }
}
