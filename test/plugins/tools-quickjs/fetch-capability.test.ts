import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QuickJsToolProvider, SandboxErrorCodes } from '@opspawn/tools-quickjs';
import { callContext } from './context.js';

describe('tools-quickjs: the fetch capability', () => {
  let server: Server;
  let base: string;
  let port: number;
  let provider: QuickJsToolProvider;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/data')
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ hello: 'sandbox', method: req.method }));
      if (req.url === '/big') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(100_000));
      if (req.url === '/elsewhere') return void res.writeHead(302, { location: `http://localhost:${port}/data` }).end();
      if (req.url === '/hang') return; // never answers
      res.writeHead(404).end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    provider = new QuickJsToolProvider({
      watch: false,
      capabilities: { fetch: { allowHosts: ['127.0.0.1'], timeoutMs: 300, maxResponseBytes: 10_000 } },
    });
    await provider.start();
  });

  after(async () => {
    await provider.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (url: string) => provider.call('http_get', { url }, callContext());
  const failure = async (url: string) => {
    const result = await get(url);
    expect(result.isError, JSON.stringify(result)).to.equal(true);
    return result.output as { code: string; message: string };
  };

  it('offers http_get once fetch is granted, and it reaches a listed host', async () => {
    expect((await provider.list()).map((t) => t.name)).to.include('http_get');
    expect(await get(`${base}/data`)).to.deep.equal({
      output: { status: 200, contentType: 'application/json', json: { hello: 'sandbox', method: 'GET' } },
    });
  });

  it('refuses a host that is not listed, naming it', async () => {
    const { code, message } = await failure(`http://localhost:${port}/data`);
    expect(code).to.equal(SandboxErrorCodes.FAILED);
    expect(message).to.include(
      `FetchRefused: fetch refused: host 'localhost:${port}' is not in capabilities.fetch.allowHosts (127.0.0.1)`,
    );
  });

  it('refuses a redirect to a host that is not listed', async () => {
    expect((await failure(`${base}/elsewhere`)).message).to.include(
      `host 'localhost:${port}' is not in capabilities.fetch.allowHosts`,
    );
  });

  it('refuses a response larger than maxResponseBytes', async () => {
    expect((await failure(`${base}/big`)).message).to.include('larger than maxResponseBytes (10000)');
  });

  it('gives up on a host that does not answer within the fetch timeout', async () => {
    expect((await failure(`${base}/hang`)).message).to.include('did not answer within 300 ms');
  });

  it('refuses other schemes', async () => {
    expect((await failure('file:///etc/passwd')).message).to.include('only http and https URLs are allowed');
  });

  it('is absent for tools that do not declare it', async () => {
    const escaping = new QuickJsToolProvider({
      dirs: ['./test/plugins/tools-quickjs/fixtures/hostile'],
      watch: false,
      capabilities: { fetch: { allowHosts: ['127.0.0.1'] } },
    });
    await escaping.start();
    try {
      const { output } = await escaping.call('escape_attempts', {}, callContext());
      expect((output as Record<string, string>).fetch).to.equal('threw ReferenceError');
    } finally {
      await escaping.close();
    }
  });
});
