/**
 * No password, token, key, secret or cookie reaches the audit table (or the logs), whatever a
 * caller passes: checked on rows written through the real recorder, writer and database, and on
 * the secrets real requests carry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED } from '@tapevision/api';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { dumpDatabase, keyClient } from './support/api-keys.ts';
import { auditRows } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('audit redaction through the real writer', () => {
  it('strips secrets at any depth and in any casing before the row is chained and stored', async () => {
    const secrets = ['s3cret-PASSWORD-value', 'refresh-TOKEN-value', 'apikey-VALUE-123', 'cookie-VALUE-abc', 'client-SECRET-xyz'];
    await server.app.deps.audit.record({
      action: 'user.created',
      outcome: 'success',
      actor: { type: 'system' },
      origin: { ip: '192.0.2.9', userAgent: 'redaction-test', requestId: 'redaction-nested' },
      details: {
        PassWord: secrets[0],
        nested: { deeper: [{ refresh_token: secrets[1] }, { 'X-Api-Key': secrets[2] }] },
        headers: { COOKIE: secrets[3], 'set-cookie': [secrets[3]] },
        config: { broker: { clientSecret: secrets[4], webhookUrl: 'https://example.test/hook' } },
        bearer: 'Bearer abc.def.ghi',
        jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
        apiKeyId: 'kept-because-an-id',
        count: 3,
      },
    });
    const [row] = await auditRows(server, (r) => r.requestId === 'redaction-nested');
    expect(row).toBeDefined();
    const stored = JSON.stringify(row);
    for (const secret of secrets) expect(stored).not.toContain(secret);
    expect(stored).not.toContain('abc.def.ghi');
    expect(stored).not.toContain('c2lnbmF0dXJl');
    const details = row!.details as Record<string, any>;
    expect(details.PassWord).toBe(REDACTED);
    expect(details.nested.deeper[0].refresh_token).toBe(REDACTED);
    expect(details.nested.deeper[1]['X-Api-Key']).toBe(REDACTED);
    expect(details.headers.COOKIE).toBe(REDACTED);
    expect(details.config.broker.clientSecret).toBe(REDACTED);
    expect(details.config.broker.webhookUrl).toBe('https://example.test/hook');
    expect(details.apiKeyId).toBe('kept-because-an-id');
    expect(details.count).toBe(3);
  });

  it('keeps the secrets real requests carry out of every table and the logs', async () => {
    const wrongPassword = `wrong-${strongPassword()}`;
    const user = await seedUser(server, 'admin');
    const failed = await rejectionOf(httpClient(server).auth.login.mutate({ email: user.email, password: wrongPassword }));
    expect(errorData(failed).code).toBe('UNAUTHORIZED');
    const session = await signIn(server, user);
    const refreshed = await httpClient(server, { jar: session.jar }).auth.refresh.mutate();
    const created = await session.client.apiKeys.create.mutate({ name: 'redaction', permissions: ['users.manage'] });
    await keyClient(server, created.key).users.list.query({});
    const newPassword = strongPassword();
    await session.client.auth.changePassword.mutate({ currentPassword: user.password, newPassword });
    await server.app.deps.audit.flush();

    const dump = await dumpDatabase(server);
    const logs = server.logs.join('');
    for (const secret of [wrongPassword, user.password, newPassword, session.login.accessToken, refreshed.accessToken, created.key]) {
      expect(dump).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    const cookie = session.jar.get('tv_refresh');
    expect(cookie).toBeTruthy();
    expect(dump).not.toContain(cookie!);
    expect(logs).not.toContain(cookie!);
    // The events themselves were recorded.
    const actions = (await auditRows(server)).map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['auth.login_failed', 'auth.login', 'auth.refresh', 'apikey.created', 'auth.password_changed']));
  });
});
