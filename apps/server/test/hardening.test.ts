/**
 * Regressions from the security review: each case here once got through.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs } from '@tapevision/db';
import { errorData, rejectionOf } from './support/clients.ts';
import { keyClient } from './support/api-keys.ts';
import { authedRawSocket } from './support/raw-ws.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ trustProxy: true, wsLimits: { maxSubscriptions: 1 } });
});
afterAll(async () => {
  await server?.close();
});

async function auditRowsCount(): Promise<number> {
  await server.app.deps.audit.flush();
  return (await server.app.deps.db.select().from(auditLogs)).length;
}

function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(3_000, () => socket.end());
  });
}

/** One request with a method fetch refuses to send (TRACE, TRACK) or a body sent in chunks. */
function rawRequest(
  port: number,
  opts: { method: string; path: string; headers?: Record<string, string>; chunks?: Buffer[]; agent?: http.Agent },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method, path: opts.path, headers: opts.headers, agent: opts.agent }, (res) => {
      // The client's end of the connection, taken before a keep-alive agent detaches it.
      const socket = res.socket;
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }));
      res.on('error', reject);
    });
    // The answer may come while the body is still being written; a write error after it is not the test's.
    req.on('error', reject);
    for (const chunk of opts.chunks ?? []) req.write(chunk);
    req.end();
  });
}

describe('hardening', () => {
  it('answers TRACE and TRACK on /trpc/* (and any other method tRPC does not serve) with 405, logging no error', async () => {
    const port = Number(new URL(server.url).port);
    const logsBefore = server.logs.length;
    for (const method of ['TRACE', 'TRACK', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await rawRequest(port, { method, path: '/trpc/auth.me' });
      expect(res.status, method).toBe(405);
      expect(res.headers.allow, method).toBe('GET, POST');
    }
    const trace = await rawRequest(port, { method: 'TRACE', path: '/trpc/users.list' });
    expect(JSON.parse(trace.body)).toMatchObject({ error: { data: { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405 } } });
    const logged = server.logs.slice(logsBefore).map((l) => JSON.parse(l) as { level: number; msg?: string });
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
    expect(server.logs.slice(logsBefore).join('')).not.toMatch(/stack/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('refuses a batch over MAX_BATCH_SIZE (50) with a clear 400 before running any call', async () => {
    const { token } = await signIn(server, await seedUser(server, 'trader'));
    const auditBefore = (await auditRowsCount());
    const paths = Array.from({ length: 1_000 }, () => 'auth.me').join(',');
    const res = await fetch(`${server.trpcUrl}/${paths}?batch=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; data: Record<string, unknown> } };
    expect(body.error.data).toMatchObject({ code: 'BAD_REQUEST', reason: 'BATCH_TOO_LARGE', maxBatchSize: 50 });
    expect(body.error.message).toBe('At most 50 calls per batch (this one has 1000)');
    // Mutations are refused the same way, and none of them ran.
    const mutations = Array.from({ length: 51 }, () => 'auth.logout').join(',');
    const post = await fetch(`${server.trpcUrl}/${mutations}?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(400);
    expect(await auditRowsCount()).toBe(auditBefore);
    const fifty = Array.from({ length: 50 }, () => 'auth.me').join(',');
    const ok = await fetch(`${server.trpcUrl}/${fifty}?batch=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect((await ok.json()) as unknown[]).toHaveLength(50);
  });

  it('answers a chunked body over MAX_BODY_BYTES with 413, single or batched, and the same connection answers the next request', async () => {
    const port = Number(new URL(server.url).port);
    const big = Buffer.from(JSON.stringify({ email: 'a@desk.example', password: 'x'.repeat(4 * 1024 * 1024) }));
    const chunks = Array.from({ length: Math.ceil(big.length / 16_384) }, (_, i) => big.subarray(i * 16_384, (i + 1) * 16_384));
    // One keep-alive connection for everything: each request after the first must be sent on the
    // connection the 413 before it came back on (a closed one would make the agent open another).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    try {
      const paths = ['/trpc/auth.login', '/trpc/auth.login,auth.login?batch=1', '/trpc/users.create'];
      for (const path of paths) {
        const res = await rawRequest(port, { method: 'POST', path, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, chunks, agent });
        expect(res.status, path).toBe(413);
        expect(JSON.parse(res.body), path).toMatchObject({ error: { data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 } } });
        expect(res.headers.connection, path).not.toBe('close');
        sockets.add(res.socket);
      }
      // Announced rather than chunked: the same 413 on the same connection.
      const announced = await rawRequest(port, { method: 'POST', path: '/trpc/auth.login', headers: { 'content-type': 'application/json', 'content-length': String(big.length) }, chunks, agent });
      expect(announced.status).toBe(413);
      const next = await rawRequest(port, { method: 'GET', path: '/healthz', agent });
      expect(next.status).toBe(200);
      sockets.add(announced.socket).add(next.socket);
      // One client socket answered all five: none was closed after its 413.
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('answers a request target that URL parsing rejects with 400, and keeps serving', async () => {
    const port = Number(new URL(server.url).port);
    const plain = await rawHttp(port, 'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(plain).toMatch(/^HTTP\/1\.1 400/);
    const upgrade = await rawHttp(
      port,
      'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(upgrade).not.toMatch(/101 Switching/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('takes the client IP from the proxy-appended (rightmost) X-Forwarded-For entry', async () => {
    const user = await seedUser(server, 'trader');
    const res = await fetch(`${server.trpcUrl}/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.1, 203.0.113.77' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    expect(res.status).toBe(200);
    const session = await signIn(server, user);
    const rows = await session.client.sessions.list.query();
    expect(rows.map((r) => r.ip)).toContain('203.0.113.77');
    expect(rows.map((r) => r.ip)).not.toContain('198.51.100.1');
  });

  it('does not let an API key create users, change roles or reset passwords (a key cannot mint accounts)', async () => {
    const admin = await seedUser(server, 'admin');
    const victim = await seedUser(server, 'trader');
    const { client } = await signIn(server, admin);
    const { key } = await client.apiKeys.create.mutate({ name: 'ops', permissions: ['users.manage'] });
    const viaKey = keyClient(server, key);
    await expect(viaKey.users.list.query({ limit: 5 })).resolves.toMatchObject({ items: expect.any(Array) });
    for (const call of [
      () => viaKey.users.create.mutate({ email: `minted-${Date.now()}@desk.example`, role: 'admin', password: strongPassword(), mustChangePassword: false }),
      () => viaKey.users.update.mutate({ id: victim.id, role: 'admin' }),
      () => viaKey.users.resetPassword.mutate({ id: victim.id }),
    ]) {
      expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'FORBIDDEN', reason: 'SESSION_REQUIRED' });
    }
  });

  it("lets an admin revoke, but not roll (and so take over), another user's key", async () => {
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const trader = await signIn(server, await seedUser(server, 'trader'));
    const { apiKey } = await trader.client.apiKeys.create.mutate({ name: 'bot', permissions: ['trading.view'] });
    const err = await rejectionOf(admin.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 0 }));
    expect(errorData(err)).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_KEY_OWNER' });
    await expect(admin.client.apiKeys.revoke.mutate({ id: apiKey.id })).resolves.toMatchObject({ status: 'revoked' });
  });

  it('refuses a message that reuses an open subscription id, so the subscription cap cannot be slipped', async () => {
    const { token } = await signIn(server, await seedUser(server, 'trader'));
    const socket = await authedRawSocket(server, { accessToken: token });
    socket.call('s1', 'sessions.onEvent', undefined, 'subscription');
    expect((await socket.first('s1')).result?.type).toBe('started');
    // A failing query under the same id used to free the slot while the subscription kept running.
    socket.call('s1', 'no.such.procedure');
    const clash = await socket.answer('s1');
    expect(clash.error?.data).toMatchObject({ reason: 'WS_ID_IN_USE' });
    socket.call('s2', 'sessions.onEvent', undefined, 'subscription');
    const refused = await socket.first('s2');
    expect(refused.error?.data).toMatchObject({ reason: 'WS_SUBSCRIPTION_LIMIT' });
    await socket.close();
  });
});
