import { bootTest, testPreamble, type KindTemplate, type ScaffoldNames } from '../kind-template.js';

export function transportTemplate(n: ScaffoldNames): KindTemplate {
  return {
    description: "A small HTTP endpoint that reports the host's plugins and health as JSON.",
    options: [
      { name: 'host', schema: { type: 'string', default: '127.0.0.1', description: 'Address to listen on' } },
      {
        name: 'port',
        schema: { type: 'integer', minimum: 0, default: 8090, description: 'Port to listen on; 0 picks a free one' },
      },
    ],
    readme: `Serves \`GET /status\`: \`{ "plugins": [...], "health": {...} }\` from the kernel's plugin registry and health
service, with node:http. Replace \`src/status-server.ts\` with your protocol; a transport reaches the host's services
(task service, tools, event bus) by the tokens in \`services\` from \`@opspawn/plugin-sdk\`.`,
    implementation: {
      file: 'status-server.ts',
      source: `import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Health, PluginRegistry, Transport } from '@opspawn/plugin-sdk';

export interface StatusServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** \`GET /status\` answers with the host's plugins and health; anything else is 404. */
export class StatusServer implements Transport {
  readonly protocol = 'http';
  private readonly server: Server;

  constructor(services: { plugins: PluginRegistry; health: Health }, private readonly options: StatusServerOptions) {
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/status') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found: try GET /status' }));
        return;
      }
      services.health.report().then(
        (health) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ plugins: services.plugins.list(), health })),
        (error: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message })),
      );
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => resolve());
    });
  }

  addresses(): string[] {
    const address = this.server.address() as AddressInfo | null;
    return address ? [\`http://\${this.options.host}:\${address.port}\`] : [];
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
`,
    },
    index: `import { definePlugin, extensionPoints, services } from '@opspawn/plugin-sdk';
import { StatusServer, type StatusServerOptions } from './status-server.js';

export { StatusServer, type StatusServerOptions } from './status-server.js';

export default definePlugin<StatusServerOptions>({
  register(env) {
    env.provide(extensionPoints.transport, {
      deps: { plugins: services.plugins, health: services.health },
      create: async (deps) => {
        const server = new StatusServer(deps, env.options);
        await server.listen();
        return server;
      },
      dispose: (server) => server.close(),
    });
  },
});
`,
    test: `${testPreamble(`import { expect } from 'chai';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';`)}
describe('${n.id} over real HTTP', () => {
  let kernel: TestKernel;
  let base: string;

  before(async () => {
    kernel = await startTestKernel({ plugins: [{ use: packageDir, options }] });
    base = kernel.get(extensionPoints.transport).find((t) => t.plugin === '${n.id}')!.value.addresses()[0]!;
  });
  after(() => kernel.stop());

  it('reports the host\\'s plugins and health on GET /status', async () => {
    const res = await fetch(\`\${base}/status\`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { plugins: Array<{ id: string; status: string }>; health: { live: boolean } };
    expect(body.plugins.find((p) => p.id === '${n.id}')?.status).to.equal('started');
    expect(body.health.live).to.equal(true);
  });

  it('answers 404 elsewhere', async () => {
    expect((await fetch(\`\${base}/nope\`)).status).to.equal(404);
  });
});
${bootTest(n)}`,
    testOptions: { port: 0 },
  };
}
