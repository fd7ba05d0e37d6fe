import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { detectCodeFormat, generateCode, parseModule, type ProxifiedModule } from 'magicast';
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

  /**
   * Appends an entry written as the others are: `plugin('<use>', { ...options })` when the config uses `plugin()`
   * (or has no entry yet; `plugin` is imported then), otherwise `{ use: '<use>', options: { ... } }`, or the bare
   * `'<use>'` without options when the config has bare entries. Indentation, quotes and spacing follow the file.
   */
  add(use: string, options: Record<string, unknown>): void {
    const { array } = this.plugins();
    const forms = array.elements.map(formOf);
    const hasOptions = Object.keys(options).length > 0;
    const form: EntryForm =
      forms.length === 0 || forms.includes('call')
        ? 'call'
        : !hasOptions && forms.includes('string')
          ? 'string'
          : 'object';
    const quoted = this.literal(use);
    const entry =
      form === 'call'
        ? `plugin(${quoted}, ${this.objectLiteral(options)})`
        : form === 'string'
          ? quoted
          : this.objectLiteral(hasOptions ? { use, options } : { use });
    this.insertElement(array, array.elements, array.elements.length - 1, entry);
    if (form === 'call') this.importPlugin();
  }

  /**
   * Sets the value at `path` (`['log', 'level']`, `['plugins', 2, 'options', 'port']`), writing `value` as a literal
   * in the file's style. Missing objects on the way are created; an existing value is replaced in place, so its
   * comments stay. A new top-level field goes after the first of `after` the config has, else at the end.
   */
  set(path: ConfigPath, value: unknown, after: string[] = []): void {
    const place = this.locate(path);
    if (place.kind === 'found') {
      this.splice(place.node.start, place.node.end, this.objectLiteral(value));
      return;
    }
    const { container, rest } = place;
    let text = this.objectLiteral(value);
    for (const segment of rest.slice(1).reverse()) {
      if (typeof segment === 'number')
        throw pathError(
          path,
          `${formatPath(path)}: there is no list here to put item [${segment}] in`,
          `set the whole list as JSON: opspawn config set <path> '["a","b"]'`,
        );
      text = this.braces(`${this.key(segment)}: ${text}`);
    }
    const key = rest[0]!;
    if (container.type === 'ArrayExpression') {
      const elements = container.elements as Node[];
      this.insertElement(container, elements, elements.length - 1, text);
      return;
    }
    const props = container.properties as Node[];
    const anchor =
      container.start === this.root().start
        ? after.map((k) => props.findIndex((p) => keyOf(p) === k)).find((i) => i >= 0)
        : undefined;
    this.insertElement(container, props, anchor ?? props.length - 1, `${this.key(String(key))}: ${text}`);
  }

  /** Removes the value at `path` with its comma and the comments that lead it; false when it was not set. */
  unset(path: ConfigPath): boolean {
    const place = this.locate(path);
    if (place.kind !== 'found') return false;
    const { parent } = place;
    if (parent.type === 'CallExpression') {
      // An argument of plugin(use, options, fields): emptied, not removed, so the others keep their places.
      this.splice(place.node.start, place.node.end, '{}');
      return true;
    }
    const list = (parent.type === 'ArrayExpression' ? parent.elements : parent.properties) as Node[];
    const member = parent.type === 'ArrayExpression' ? place.node : list.find((p) => p.value === place.node)!;
    this.removeElement(parent, list, list.indexOf(member));
    return true;
  }

  /** Removes the entry, with its comma, the comments that lead it and, when it stands on its own lines, those lines. */
  remove(index: number): void {
    const { array } = this.plugins();
    this.removeElement(array, array.elements, index);
  }

  /** Removes a member of a list (array elements or object properties) as `remove` describes. */
  private removeElement(container: Node, elements: Node[], index: number): void {
    const array = container;
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
   * The entry is rewritten from its own text in place, so only it changes (its comments lie outside it and stay).
   */
  setEnabled(index: number, enabled: boolean): void {
    const node = this.plugins().array.elements[index]!;
    const text = this.enabledText(node, index, enabled);
    if (text === undefined) return;
    this.splice(node.start, node.end, text);
    if (text.startsWith('plugin(')) this.importPlugin();
  }

  /** The entry's text with `enabled: false` set or removed; undefined when there is nothing to change. */
  private enabledText(node: Node, index: number, enabled: boolean): string | undefined {
    const edits: Array<[number, number, string]> = [];
    const form = formOf(node);
    if (form === 'string') {
      if (enabled) return undefined;
      const use = this.code.slice(node.start, node.end);
      if (this.plugins().array.elements.some((e) => formOf(e) === 'call'))
        return `plugin(${use}, {}, { enabled: false })`;
      return this.objectLiteral({ use: RAW_USE, enabled: false }).replace(this.literal(RAW_USE), use);
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
      mod = parseModule(positioned(this.code));
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

  /** The object literal given to defineConfig. */
  private root(): Node {
    return (getDefaultExportOptions(parseModule(positioned(this.code))) as unknown as { $ast: Node }).$ast;
  }

  /**
   * Walks `path` through the config's literals. A plugin entry written as `'pkg'` is first rewritten as an entry
   * with fields, and `plugin(use, options, fields)` is read as `{ use, options, ...fields }`.
   */
  private locate(path: ConfigPath): Place {
    for (let rewrites = 0; ; rewrites++) {
      if (rewrites > 3) throw new Error(`could not reach ${formatPath(path)}`);
      let node = this.root();
      let parent = node;
      let rewritten = false;
      for (let i = 0; i < path.length && !rewritten; i++) {
        const segment = path[i]!;
        const where = formatPath(path.slice(0, i));
        const entry = i === 2 && path[0] === 'plugins';
        if (entry && node.type === 'StringLiteral') {
          this.splice(node.start, node.end, this.entryWithFields(node));
          rewritten = true;
          break;
        }
        if (entry && node.type === 'CallExpression') {
          const args = node.arguments as Node[];
          const slot = segment === 'use' ? 0 : segment === 'options' ? 1 : 2;
          if (args.length <= slot) {
            this.splice(args[args.length - 1]!.end, args[args.length - 1]!.end, ', {}'.repeat(slot + 1 - args.length));
            rewritten = true;
            break;
          }
          if (slot < 2) {
            parent = node;
            node = args[slot]!;
            continue;
          }
          node = args[2]!;
        }
        if (node.type === 'ObjectExpression' && typeof segment === 'string') {
          const props = node.properties as Node[];
          if (props.some((p) => p.type !== 'ObjectProperty' && p.type !== 'Property'))
            throw notEditable(this.path, where, 'spreads or methods');
          const prop = props.find((p) => keyOf(p) === segment);
          if (!prop) return { kind: 'missing', container: node, rest: path.slice(i) };
          parent = node;
          node = prop.value as Node;
        } else if (node.type === 'ArrayExpression' && typeof segment === 'number') {
          const elements = node.elements as Node[];
          if (elements.some((e) => !e || e.type === 'SpreadElement'))
            throw notEditable(this.path, where, 'spreads or holes');
          if (segment === elements.length) return { kind: 'missing', container: node, rest: path.slice(i) };
          if (segment > elements.length)
            throw pathError(
              path,
              `${where} has ${elements.length} item(s): ${formatPath(path.slice(0, i + 1))} is past the end`,
              `use an index up to ${elements.length}`,
            );
          parent = node;
          node = elements[segment]!;
        } else if (LITERALS.has(node.type) || node.type === 'ArrayExpression' || node.type === 'ObjectExpression') {
          const what =
            node.type === 'ArrayExpression' ? 'a list' : node.type === 'ObjectExpression' ? 'an object' : 'a value';
          throw pathError(
            path,
            `${where} is ${what}, so it has no ${typeof segment === 'number' ? `item [${segment}]` : `field '${segment}'`}`,
            `set ${where} itself, or check the path (opspawn config get ${where})`,
          );
        } else {
          throw notEditable(
            this.path,
            where,
            `code (${this.code.slice(node.start, Math.min(node.end, node.start + 40))})`,
          );
        }
      }
      if (!rewritten) return { kind: 'found', node, parent };
    }
  }

  /** A bare `'pkg'` entry as one with room for fields, in the form the config's other entries use. */
  private entryWithFields(node: Node): string {
    const use = this.code.slice(node.start, node.end);
    if (this.plugins().array.elements.some((e) => formOf(e) === 'call')) {
      this.importPlugin();
      return `plugin(${use}, {})`;
    }
    return this.braces(`use: ${use}`);
  }

  /**
   * Puts `text` into a list (array elements or object properties) after `elements[after]` (-1: first): on a line of
   * its own, indented like its neighbour, when the list spans lines; inline otherwise. Trailing commas stay as the
   * file has them.
   */
  private insertElement(container: Node, elements: Node[], after: number, text: string): void {
    const prev = elements[after];
    if (!prev) {
      const first = elements[0];
      if (first) {
        this.splice(first.start, first.start, `${text}, `);
        return;
      }
      const inner = container.type === 'ObjectExpression' ? this.braces(text) : `[${text}]`;
      this.splice(container.start, container.end, inner);
      return;
    }
    const last = after === elements.length - 1;
    const comma = this.commaAfter(prev.end, container.end);
    const multiline = this.lineOf(prev.end) !== this.lineOf(container.end);
    if (multiline) {
      const indent = /^[ \t]*/.exec(this.code.slice(this.lineStart(prev.start)))![0];
      const lineEnd = this.lineEnd(comma ?? prev.end);
      this.splice(lineEnd, lineEnd, `\n${indent}${text}${comma === undefined && last ? '' : ','}`);
      if (comma === undefined) this.splice(prev.end, prev.end, ',');
    } else if (comma !== undefined) {
      this.splice(comma + 1, comma + 1, ` ${text},`);
    } else {
      this.splice(prev.end, prev.end, `, ${text}`);
    }
  }

  /** Whether the file writes `{ a: 1 }` (most do) or `{a: 1}`. */
  private curlySpacing(): boolean {
    const spaced = this.code.match(/\{ [\w'"]/g)?.length ?? 0;
    const tight = this.code.match(/\{[\w'"]/g)?.length ?? 0;
    return spaced >= tight;
  }

  /** `{ inner }`, or `{inner}` in a file that writes its objects so. */
  private braces(inner: string): string {
    return this.curlySpacing() ? `{ ${inner} }` : `{${inner}}`;
  }

  private literal(value: string): string {
    return literal(value, this.quote());
  }

  private key(name: string): string {
    return /^[A-Za-z_$][\w$]*$/.test(name) ? name : this.literal(name);
  }

  /** A value as a literal on one line, in the file's quotes and curly spacing; keys quoted only when they must be. */
  private objectLiteral(value: unknown): string {
    const text = objectLiteral(value, this.quote());
    return this.curlySpacing() ? text : text.replace(/\{ /g, '{').replace(/ \}/g, '}');
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

/** A path into the config: keys and array indices, as `log.level` or `plugins[2].options.port` spell it. */
export type ConfigPath = Array<string | number>;

type Place =
  | { kind: 'found'; node: Node; parent: Node }
  /** Nothing at the path: `rest[0]` is the first key (or index) `container` lacks. */
  | { kind: 'missing'; container: Node; rest: ConfigPath };

/** Stands for an entry's own text while the object around it is written. */
const RAW_USE = '\u0000use';

const LITERALS = new Set(['StringLiteral', 'NumericLiteral', 'BooleanLiteral', 'NullLiteral', 'TemplateLiteral']);

/** `log.level`, `plugins[2].options.port` */
export function formatPath(path: ConfigPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') || '(the config)';
}

/** Parses `log.level` or `plugins[2].options.port`; keys are what config fields and plugin ids are made of. */
export function parseConfigPath(text: string): ConfigPath {
  const path: ConfigPath = [];
  const re = /(?:^|\.)([A-Za-z_$][\w$-]*)|\[(\d+)\]/gy;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    path.push(m[1] ?? Number(m[2]));
    at = re.lastIndex;
  }
  if (at !== text.length || path.length === 0 || typeof path[0] !== 'string')
    throw pathError(
      text,
      `'${text}' is not a config path`,
      'write it as the errors do: log.level, tasks.concurrency, plugins.store-sqlite.options.path, plugins[2].enabled',
    );
  return path;
}

function pathError(path: ConfigPath | string, message: string, hint: string): OpspawnError {
  const text = typeof path === 'string' ? path : formatPath(path);
  return new OpspawnError(ErrorCodes.CONFIG_PATH_INVALID, message, { hint, details: { path: text } });
}

function notEditable(file: string, where: string, what: string): OpspawnError {
  return new OpspawnError(
    ErrorCodes.CONFIG_NOT_EDITABLE,
    `${file}: ${where} is written as ${what}, which the CLI does not rewrite`,
    {
      hint: `write ${where} as a literal in the config, or change it in its own code`,
      details: { path: where },
    },
  );
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

/**
 * The text to parse when only positions are wanted: recast counts a tab as several columns in the offsets it gives,
 * so tabs are read as spaces, which keeps every offset equal to the original text's.
 */
function positioned(code: string): string {
  return code.replaceAll('\t', ' ');
}
