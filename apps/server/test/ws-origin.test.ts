/**
 * The WebSocket and cookies: a browser page on a foreign origin (another port on localhost, a
 * sibling subdomain: same-site, so the refresh cookie rides along) is refused before the 101; the
 * refresh cookie is honoured on HTTP auth.refresh only, never over the socket; and API answers
 * are never cached (Cache-Control: no-store), on the query fast path and tRPC's handler alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CookieJar, httpClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ allowedOrigins: ['https://desk.example.com'] });
});
afterAll(async () => {
  await server?.close();
});

type Upgrade = { kind: 'open'; ws: WebSocket } | { kind: 'refused'; status: number; body: string };

function upgrade(headers: Record<string, string>): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl, { headers });
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

function host(): string {
  return new URL(server.url).host;
}

describe('WebSocket upgrade: Origin', () => {
  it.each([
    ['another port on the same host', () => `http://127.0.0.1:${Number(new URL(server.url).port) + 1}`],
    ['a sibling subdomain', () => 'https://evil.example.com'],
    ['the opaque origin of a sandboxed page', () => 'null'],
    ['a different scheme on the same host', () => `ftp://${host()}`],
  ])('refuses a browser from %s with 403 before 101', async (_what, origin) => {
    const result = await upgrade({ origin: origin() });
    expect(result).toMatchObject({ kind: 'refused', status: 403 });
  });

  it.each([
    ['no Origin (a service, the typed client in Node)', () => ({})],
    ["the app's own origin (its Host)", () => ({ origin: `http://${host()}` })],
    ['an origin listed in ALLOWED_ORIGINS', () => ({ origin: 'https://desk.example.com' })],
  ])('lets in %s', async (_what, headers) => {
    const result = await upgrade(headers());
    expect(result.kind).toBe('open');
    if (result.kind === 'open') result.ws.close();
  });
});

describe('auth.refresh over WebSocket', () => {
  it("never reads the refresh cookie the upgrade carried, and returns no token", async () => {
    const user = await seedUser(server, 'trader');
    const session = await signIn(server, user);
    const cookie = session.jar.get('tv_refresh');
    expect(cookie).toBeTruthy();

    // A same-origin upgrade carrying the cookie, as a browser would send it.
    const result = await upgrade({ origin: `http://${host()}`, cookie: `tv_refresh=${cookie}` });
    if (result.kind !== 'open') throw new Error(`upgrade refused: ${result.status}`);
    const ws = result.ws;
    const answer = new Promise<Record<string, unknown>>((resolve) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        if (msg.id === 1) resolve(msg);
      });
    });
    ws.send(JSON.stringify({ id: 1, method: 'mutation', params: { path: 'auth.refresh', input: {} } }));
    const msg = await answer;
    ws.close();
    expect(msg.result).toBeUndefined();
    expect(msg.error).toMatchObject({ data: { code: 'UNAUTHORIZED', reason: 'NO_REFRESH_TOKEN' } });
    expect(JSON.stringify(msg)).not.toMatch(/accessToken/);

    // The cookie was not spent: it still rotates over HTTP.
    const jar = new CookieJar();
    jar.set('tv_refresh', cookie as string);
    await expect(httpClient(server, { jar }).auth.refresh.mutate()).resolves.toMatchObject({ user: { id: user.id } });
  });
});

describe('Cache-Control: no-store', () => {
  async function call(path: string, init: RequestInit & { input?: unknown } = {}) {
    const query = init.input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(init.input))}`;
    return fetch(`${server.trpcUrl}/${path}${query}`, init);
  }

  it('is on auth.*, apiKeys.*, users.* and every authenticated answer, over both HTTP paths', async () => {
    const admin = await seedUser(server, 'admin');
    const login = await fetch(`${server.trpcUrl}/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: admin.email, password: admin.password }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('no-store');
    const { result } = (await login.json()) as { result: { data: { accessToken: string } } };
    const auth = { authorization: `Bearer ${result.data.accessToken}` };

    // Single GET queries (the fast path).
    for (const path of ['auth.me', 'apiKeys.list', 'sessions.list']) {
      const res = await call(path, { headers: auth });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
    const users = await call('users.list', { headers: auth, input: { limit: 5 } });
    expect(users.status).toBe(200);
    expect(users.headers.get('cache-control')).toBe('no-store');
    // A batch (tRPC's handler).
    const batch = await fetch(`${server.trpcUrl}/auth.me,apiKeys.list?batch=1&input=${encodeURIComponent('{}')}`, { headers: auth });
    expect(batch.status).toBe(200);
    expect(batch.headers.get('cache-control')).toBe('no-store');
    // A mutation that hands out a secret.
    const created = await fetch(`${server.trpcUrl}/apiKeys.create`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cache probe', permissions: ['trading.view'] }),
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    // Errors too: an unauthenticated call, and one with an API key.
    const anonymous = await call('auth.me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('cache-control')).toBe('no-store');
    const { result: made } = (await created.json()) as { result: { data: { key: string } } };
    const key = made.data.key;
    const byKey = await call('trading.orders', { headers: { 'x-api-key': key }, input: {} });
    expect(byKey.status).toBe(200);
    expect(byKey.headers.get('cache-control')).toBe('no-store');
  });
});
