import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './deployment.js';

/**
 * Where a user's `npm install` gets better-sqlite3's native binary: a prebuilt one, downloaded by prebuild-install
 * from the project's releases. This machine cannot reach them, so npm would compile SQLite from source (minutes).
 * This mirror serves, under prebuild-install's file name, the binary this repository's own install built — only for
 * the same better-sqlite3 version, Node ABI, platform and architecture; any other request is 404, and npm compiles
 * as it would anyway. `env` points prebuild-install at it (its documented `npm_config_<package>_binary_host`).
 */
export class PrebuildMirror {
  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(): Promise<PrebuildMirror> {
    const dir = mkdtempSync(join(tmpdir(), 'opspawn-prebuilds-'));
    const pkgDir = join(REPO, 'node_modules/better-sqlite3');
    const binary = join(pkgDir, 'build/Release/better_sqlite3.node');
    let served: { path: string; file: string } | undefined;
    if (existsSync(binary)) {
      const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
      const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
      const file = join(dir, name);
      execFileSync('tar', ['czf', file, '-C', pkgDir, 'build/Release/better_sqlite3.node']);
      served = { path: `/v${version}/${name}`, file };
    }
    const server = createServer((req, res) => {
      if (served && req.method === 'GET' && req.url === served.path) {
        res.writeHead(200, { 'content-type': 'application/gzip' });
        createReadStream(served.file).pipe(res);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new PrebuildMirror(server, dir, { npm_config_better_sqlite3_binary_host: `http://127.0.0.1:${port}` });
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
