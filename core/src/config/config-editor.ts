import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { builders, detectCodeFormat, generateCode, parseModule, type ProxifiedModule } from 'magicast';
import { getDefaultExportOptions } from 'magicast/helpers';
import { ErrorCodes, OpspawnError } from '@opspawn/plugin-sdk';

/** An AST node as recast (under magicast) gives it: babel positions and attached comments. */
interface Node {
  type: string;
  start: number;
  end: number;
  comments?: Array<{ leading: boolean; start: number; end: number }>;
  [key: string]: unknown;
}

/** How an entry of `plugins` is written: `'pkg'`, `plugin('pkg', ...)` or `{ use: 'pkg', ... }`. */
export type EntryForm = 'string' | 'call' | 'object';

export interface ConfigEntry {
  index: number;
  form: EntryForm;
  /** The package or path it names, when it is a literal. */
  use?: string;
}

const SDK = '@opspawn/plugin-sdk';

/**
 * Edits the `plugins` array of an `opspawn.config.{ts,mts,js,mjs}` the way a person would: magicast (recast)
 * finds the entries and prints what changes; everything else keeps its text, comments and layout.
 *
 * Adding and removing an entry splice the printed entry at the positions magicast gives, because recast reprints
 * a whole array whose length changes and moves comments that lead its first element.
 */
export class ConfigEditor {
  readonly path: string;
  readonly original: string;
  private code: string;

  private constructor(path: string, code: string) {
    this.path = path;
    this.original = code;
    this.code = code;
    this.plugins(); // refuse a config we cannot edit before anything else happens
  }

  static open(path: string): ConfigEditor {
    if (!['.ts', '.mts', '.js', '.mjs'].includes(extname(path))) {
      throw new OpspawnError(
        ErrorCodes.CONFIG_NOT_EDITABLE,
        `${path} is not a TypeScript or JavaScript config, so the CLI cannot edit it`,
        {
          hint: 'edit the plugins list by hand, or move the config to opspawn.config.ts',
        },
      );
    }
    return new ConfigEditor(path, readFileSync(path, 'utf8'));
  }

  /** The config's text with the edits made so far. */
  get text(): string {
    return this.code;
  }

  get changed(): boolean {
    return this.code !== this.original;
  }

  entries(): ConfigEntry[] {
    return this.plugins().array.elements.map((node, index) => ({ index, form: formOf(node), use: useOf(node) }));
  }

  /** Appends `plugin('<use>', { ...options })` (`{}` without options, so `disable` has a place to go) and imports `plugin` when the config does not yet. */
  add(use: string, options: Record<string, unknown>): void {
    const { array } = this.plugins();
    const quote = this.quote();
    const entry = `plugin(${literal(use, quote)}, ${objectLiteral(options, quote)})`;
    const elements = array.elements;
    const last = elements[elements.length - 1];
    if (!last) {
      this.splice(array.start + 1, array.end - 1, entry);
    } else {
      const comma = this.commaAfter(last.end, array.end);
      const multiline = this.lineOf(last.end) !== this.lineOf(array.end);
      if (multiline) {
        const indent = /^[ \t]*/.exec(this.code.slice(this.lineStart(last.start)))![0];
        const lineEnd = this.lineEnd(comma ?? last.end);
        this.splice(lineEnd, lineEnd, `\n${indent}${entry}${comma === undefined ? '' : ','}`);
        if (comma === undefined) this.splice(last.end, last.end, ',');
      } else if (comma !== undefined) {
        this.splice(comma + 1, comma + 1, ` ${entry},`);
      } else {
        this.splice(last.end, last.end, `, ${entry}`);
      }
    }
    this.importPlugin();
  }

  /** Removes the entry, with its comma, the comments that lead it and, when it stands on its own lines, those lines. */
  remove(index: number): void {
    const { array } = this.plugins();
    const elements = array.elements;
    const node = elements[index]!;
    const leading = (node.comments ?? []).filter((c) => c.leading);
    const comma = this.commaAfter(node.end, array.end);
    let start = Math.min(node.start, ...leading.map((c) => c.start));
    let end = comma === undefined ? node.end : comma + 1;
    if (comma === undefined && index > 0) start = elements[index - 1]!.end; // the last entry takes the comma before it
    const ownLines =
      this.code.slice(this.lineStart(start), start).trim() === '' &&
      !/\S/.test(this.code.slice(end, this.lineEnd(end)).replace(/^\s*\/\/.*$/, ''));
    if (ownLines) {
      start = this.lineStart(start);
      end = Math.min(this.lineEnd(end) + 1, this.code.length);
    } else if (comma !== undefined) {
      end += /^[ \t]*/.exec(this.code.slice(end))![0].length;
    }
    this.splice(start, end, '');
  }

  /**
   * `enabled: false` (the third argument of `plugin()`, or the object's field), or its removal; options stay.
   * The entry is rewritten from its own text and put back through magicast, so only it changes.
   */
  setEnabled(index: number, enabled: boolean): void {
    const mod = parseModule(this.code);
    const array = getDefaultExportOptions(mod).plugins as unknown as Array<unknown>;
    const node = this.plugins().array.elements[index]!;
    const text = this.enabledText(node, index, enabled);
    if (text === undefined) return;
    const replacement = builders.raw(text);
    (replacement.$ast as Node).comments = node.comments;
    array[index] = replacement;
    this.code = this.print(mod);
    if (formOf(node) === 'string') this.importPlugin();
  }

  /** The entry's text with `enabled: false` set or removed; undefined when there is nothing to change. */
  private enabledText(node: Node, index: number, enabled: boolean): string | undefined {
    const edits: Array<[number, number, string]> = [];
    const form = formOf(node);
    if (form === 'string') {
      if (enabled) return undefined;
      return `plugin(${this.code.slice(node.start, node.end)}, {}, { enabled: false })`;
    }
    const args = form === 'call' ? (node.arguments as Node[]) : [];
    const fields = form === 'call' ? args[2] : node;
    if (fields !== undefined && fields.type !== 'ObjectExpression') {
      throw new OpspawnError(
        ErrorCodes.CONFIG_NOT_EDITABLE,
        `${this.path}: plugins[${index}] is not written as an object the CLI can change`,
        {
          hint: 'set enabled by hand',
        },
      );
    }
    const props = (fields?.properties as Node[] | undefined) ?? [];
    const at = props.findIndex((p) => keyOf(p) === 'enabled');
    if (enabled) {
      if (at === -1) return undefined;
      if (form === 'call' && props.length === 1) edits.push([args[1]!.end, fields!.end, '']);
      else if (at < props.length - 1) edits.push([props[at]!.start, props[at + 1]!.start, '']);
      else edits.push([props[at - 1]!.end, props[at]!.end, '']);
    } else if (at !== -1) {
      edits.push([(props[at]!.value as Node).start, (props[at]!.value as Node).end, 'false']);
    } else if (fields !== undefined) {
      const after = props.find((p) => keyOf(p) === 'use') ?? props[props.length - 1];
      edits.push(after ? [after.end, after.end, ', enabled: false'] : [fields.start, fields.end, '{ enabled: false }']);
    } else {
      const last = args[args.length - 1]!;
      edits.push([last.end, last.end, `${args.length < 2 ? ', {}' : ''}, { enabled: false }`]);
    }
    let text = this.code.slice(node.start, node.end);
    for (const [from, to, insert] of edits.sort((a, b) => b[0] - a[0])) {
      text = text.slice(0, from - node.start) + insert + text.slice(to - node.start);
    }
    return text;
  }

  /** A unified diff of the edits, as `--dry-run` prints it. */
  diff(): string {
    const name = basename(this.path);
    return createTwoFilesPatch(`a/${name}`, `b/${name}`, this.original, this.code, undefined, undefined, {
      context: 3,
    });
  }

  /**
   * Writes the candidate text next to the config, where imports resolve the same, so it can be checked as the
   * kernel would load it before it replaces anything. Remove it with `discard` or install it with `commit`.
   */
  writeCandidate(): string {
    const ext = extname(this.path);
    const candidate = join(
      dirname(this.path),
      `.${basename(this.path, ext)}.${randomBytes(4).toString('hex')}.candidate${ext}`,
    );
    writeFileSync(candidate, this.code);
    return candidate;
  }

  /**
   * Replaces the config with a checked candidate: the old text is kept in `<config>.bak`, then the candidate is
   * renamed over the config, so a reader sees the old file or the new one and never half of one.
   */
  commit(candidate: string): string {
    const backup = `${this.path}.bak`;
    copyFileSync(this.path, backup);
    renameSync(candidate, this.path);
    return backup;
  }

  discard(candidate: string): void {
    rmSync(candidate, { force: true });
  }

  private plugins(): { mod: ProxifiedModule; array: Node & { elements: Node[] } } {
    let mod: ProxifiedModule;
    let options: Record<string, any>;
    try {
      mod = parseModule(this.code);
      options = getDefaultExportOptions(mod) as Record<string, any>;
    } catch (error) {
      throw new OpspawnError(
        ErrorCodes.CONFIG_NOT_EDITABLE,
        `could not read the plugins of ${this.path}: ${(error as Error).message}`,
        {
          hint: 'the CLI edits a config whose default export is defineConfig({ plugins: [...] }); edit this one by hand',
          cause: error,
        },
      );
    }
    const array = options.plugins?.$ast as (Node & { elements: Node[] }) | undefined;
    if (array?.type !== 'ArrayExpression' || array.elements.some((e) => !e || e.type === 'SpreadElement')) {
      throw new OpspawnError(
        ErrorCodes.CONFIG_NOT_EDITABLE,
        `${this.path}: "plugins" is not a literal array the CLI can edit`,
        {
          hint: 'write plugins: [ ... ] inside defineConfig({ ... }), or edit the config by hand',
        },
      );
    }
    return { mod, array };
  }

  /** Adds `import { plugin } from '@opspawn/plugin-sdk'` (to the existing import when there is one). */
  private importPlugin(): void {
    const mod = parseModule(this.code);
    if (mod.imports.$items.some((i) => i.from === SDK && i.local === 'plugin')) return;
    mod.imports.$add({ from: SDK, imported: 'plugin', local: 'plugin' });
    this.code = this.print(mod);
  }

  /** magicast's output in the file's own style, ending as the file did. */
  private print(mod: ProxifiedModule): string {
    const code = generateCode(mod, { format: detectCodeFormat(this.code) }).code;
    return this.code.endsWith('\n') && !code.endsWith('\n') ? `${code}\n` : code;
  }

  private quote(): string {
    return detectCodeFormat(this.code).quote === 'double' ? '"' : "'";
  }

  /** Position of the comma that follows `from` (skipping blanks and comments), before `limit`. */
  private commaAfter(from: number, limit: number): number | undefined {
    const rest = this.code.slice(from, limit);
    const match = /^(?:\s|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*,/.exec(rest);
    return match ? from + match[0].length - 1 : undefined;
  }

  private splice(start: number, end: number, text: string): void {
    this.code = this.code.slice(0, start) + text + this.code.slice(end);
  }

  private lineOf(position: number): number {
    return this.code.slice(0, position).split('\n').length;
  }

  private lineStart(position: number): number {
    return this.code.lastIndexOf('\n', position - 1) + 1;
  }

  private lineEnd(position: number): number {
    const end = this.code.indexOf('\n', position);
    return end === -1 ? this.code.length : end;
  }
}

function keyOf(property: Node): unknown {
  const key = property.key as Node | undefined;
  return key?.name ?? key?.value;
}

function formOf(node: Node): EntryForm {
  if (node.type === 'CallExpression') return 'call';
  if (node.type === 'ObjectExpression') return 'object';
  return 'string';
}

/** The package or path an entry names, when it is written as a literal. */
function useOf(node: Node): string | undefined {
  const text = (n: unknown) =>
    (n as Node | undefined)?.type === 'StringLiteral' ? String((n as Node).value) : undefined;
  if (node.type === 'StringLiteral') return text(node);
  if (node.type === 'CallExpression') return text((node.arguments as Node[])[0]);
  if (node.type === 'ObjectExpression') {
    const use = (node.properties as Node[]).find((p) => keyOf(p) === 'use');
    return text(use?.value);
  }
  return undefined;
}

function literal(value: string, quote: string): string {
  return `${quote}${value.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`)}${quote}`;
}

/** Options as an object literal on one line, in the config's quote style; keys quoted only when they must be. */
function objectLiteral(value: unknown, quote: string): string {
  if (typeof value === 'string') return literal(value, quote);
  if (Array.isArray(value)) return `[${value.map((v) => objectLiteral(v, quote)).join(', ')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : literal(k, quote)}: ${objectLiteral(v, quote)}`,
    );
    return entries.length ? `{ ${entries.join(', ')} }` : '{}';
  }
  return JSON.stringify(value);
}
