import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface UiAsset {
  contentType: string;
  body: Uint8Array;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The page's files, read once at start from the package: the compiled modules (dist/ui/*.js) and the stylesheet
 * and page (src/ui). Only names found there are served, so a request can never name a path of its own.
 */
export class UiAssets {
  private readonly files = new Map<string, UiAsset>();
  private readonly page: string;

  constructor(options: { title: string; refreshMs: number }) {
    for (const [dir, pattern] of [
      [join(PACKAGE, 'dist/ui'), /^[a-z-]+\.js$/],
      [join(PACKAGE, 'src/ui'), /^[a-z-]+\.(css|svg)$/],
    ] as const) {
      for (const name of readdirSync(dir).filter((n) => pattern.test(n))) {
        const ext = name.slice(name.lastIndexOf('.'));
        this.files.set(name, { contentType: CONTENT_TYPES[ext]!, body: readFileSync(join(dir, name)) });
      }
    }
    const settings = JSON.stringify({ title: options.title, refreshMs: options.refreshMs });
    this.page = readFileSync(join(PACKAGE, 'src/ui/index.html'), 'utf8')
      .replaceAll('{{title}}', () => escapeHtml(options.title))
      .replace('{{settings}}', () => escapeHtml(settings));
  }

  html(): string {
    return this.page;
  }

  get(name: string): UiAsset | undefined {
    return this.files.get(name);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
