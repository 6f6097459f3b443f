/**
 * Regressions from the security review: each case here once got through.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('hardening', () => {
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
