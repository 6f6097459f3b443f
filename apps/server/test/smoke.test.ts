import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('server', () => {
  it('answers health and readiness', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('signs a user in and reads auth.me', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const me = await session.client.auth.me.query();
    expect(me.user.email).toBe(trader.email);
    expect(me.role).toBe('trader');
    expect(me.permissions).toContain('trading.execute');
    expect(me.permissions).not.toContain('users.manage');
    const anon = httpClient(server);
    await expect(anon.auth.me.query()).rejects.toThrow(/Sign in/);
  });
});
