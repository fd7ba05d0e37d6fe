import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free local port to `target` (e.g. PostgreSQL on 5432) that a test can cut and restore: a
 * network fault between a process and a service, without touching the service itself.
 */
export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private cut = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 on a free port and forwards each connection to `targetHost:targetPort`. */
  static start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TcpProxy;
      const server = createServer((client) => proxy.forward(client, targetPort, targetHost));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        proxy = new TcpProxy(server, (server.address() as { port: number }).port);
        resolve(proxy);
      });
    });
  }

  /** `url` (a PostgreSQL URL, say) pointed at this proxy instead of at its target. */
  via(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.href;
  }

  /** Connections open through the proxy right now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Resets every open connection and every new one until `restore`, as a broken network would. */
  cutConnections(): void {
    this.cut = true;
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Forwards new connections again. */
  restore(): void {
    this.cut = false;
  }

  /** Closes the listening port and every connection. */
  close(): Promise<void> {
    this.cutConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket, targetPort: number, targetHost: string): void {
    if (this.cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ port: targetPort, host: targetHost });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
