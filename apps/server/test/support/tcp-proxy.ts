import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** The same URL with host and port swapped for the proxy's. */
  urlFor(target: string): string;
  /** Cuts every open connection and refuses new ones for `ms` (a database outage, seen from the app). */
  outage(ms: number): Promise<void>;
  /** Connections cut so far. */
  readonly cut: number;
  close(): Promise<void>;
}

/** A loopback TCP forwarder a test can pull the plug on. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let down = false;
  let cut = 0;
  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    urlFor(target) {
      const url = new URL(target);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    async outage(ms) {
      down = true;
      for (const socket of open) {
        socket.destroy();
        cut += 1;
      }
      open.clear();
      await new Promise((r) => setTimeout(r, ms));
      down = false;
    },
    get cut() {
      return cut;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
