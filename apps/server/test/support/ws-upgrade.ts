import WebSocket from 'ws';

/** The status a WebSocket upgrade from `ip` (behind TRUST_PROXY) gets: 101 when it opens, else the refusal's. */
export function upgradeStatusFrom(server: { wsUrl: string }, ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl, { headers: { 'x-forwarded-for': ip } });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response|socket hang up/.test(err.message)) reject(err);
    });
  });
}
