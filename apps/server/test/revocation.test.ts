/**
 * Revocation is immediate: whatever ends a session, its access token fails on the very next HTTP
 * request (long before it would expire) and its open WebSocket is closed by the server (4001)
 * within a second.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { permissionsFor } from '@tapevision/api';
import { keyClient, keyWsClient, apiKeyRow } from './support/api-keys.ts';
import { CookieJar, httpClient, rejectionOf, type WsTestClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  auditRowsFor,
  bearer,
  decodeJwt,
  expectRevokedClose,
  expectStaysOpen,
  expectTokenRejected,
  expectUnauthorized,
  loginForBody,
  openSocket,
  sessionRow,
  sessionRowsOf,
  type TrackedSocket,
} from './support/session-helpers.ts';
import { seedUser, signIn, strongPassword, type SeededUser } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const sockets: TrackedSocket[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((ws) => ws.close()));
});

async function socketFor(token: string) {
  const ws = await openSocket(server, token);
  sockets.push(ws);
  return ws;
}

/** A signed-in session with the refresh token in the body and a live socket. */
async function liveSession(user: SeededUser) {
  const login = await loginForBody(server, user);
  const ws = await socketFor(login.accessToken);
  return { ...login, ws, client: bearer(server, login.accessToken) };
}

async function expectDead(s: Awaited<ReturnType<typeof liveSession>>, since: number, reason: string) {
  await expectTokenRejected(server, s.accessToken);
  await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: s.refreshToken }));
  await expectRevokedClose(s.ws, since);
  expect((await sessionRow(server, s.sessionId)).revokedReason).toBe(reason);
}

async function expectAlive(s: Awaited<ReturnType<typeof liveSession>>) {
  await expect(s.client.auth.me.query()).resolves.toMatchObject({ sessionId: s.sessionId });
  await expectStaysOpen(s.ws, s.sessionId);
}

describe('auth.logout', () => {
  it('ends the current session at once: access token, refresh cookie and socket', async () => {
    const user = await seedUser(server, 'trader');
    const session = await signIn(server, user);
    const sessionId = decodeJwt(session.token).payload.sid as string;
    // Two tabs share the session: both sockets must go.
    const ws = await socketFor(session.token);
    const ws2 = await socketFor(session.token);
    const other = await liveSession(user);
    const cookie = session.jar.get('tv_refresh') as string;
    expect(cookie).toBeTruthy();

    await expect(session.client.auth.logout.mutate()).resolves.toEqual({ ok: true });
    const since = Date.now();

    // The cookie is cleared in the answer...
    expect(session.jar.get('tv_refresh')).toBeUndefined();
    expect(session.jar.setCookieHeaders.at(-1)).toMatch(/^tv_refresh=;.*Max-Age=0/i);
    // ...the same, unexpired access token fails on the very next request...
    expect(Date.parse(session.login.accessTokenExpiresAt)).toBeGreaterThan(server.clock.now().getTime());
    await expectTokenRejected(server, session.token);
    // ...the refresh token no longer works, even if the client kept a copy...
    const keptCopy = new CookieJar();
    keptCopy.set('tv_refresh', cookie);
    await expectUnauthorized(httpClient(server, { jar: keptCopy }).auth.refresh.mutate());
    // ...and the session's socket is closed.
    await expectRevokedClose(ws, since);
    await expectRevokedClose(ws2, since);

    expect((await sessionRow(server, sessionId)).revokedReason).toBe('logout');
    expect(await auditRowsFor(server, 'auth.logout', sessionId)).toHaveLength(1);
    // A second logout has no session to act on.
    await expectUnauthorized(session.client.auth.logout.mutate());

    // The user's other session is untouched.
    await expectAlive(other);
  });
});

describe('sessions.revoke', () => {
  it('kills the revoked session, its socket included, and nothing else', async () => {
    const user = await seedUser(server, 'trader');
    const [keep, drop] = [await liveSession(user), await liveSession(user)];

    await keep.client.sessions.revoke.mutate({ sessionId: drop.sessionId });
    const since = Date.now();

    await expectDead(drop, since, 'revoked_by_user');
    await expectAlive(keep);
  });
});

describe('sessions.revokeOthers', () => {
  it("kills every other session's token and socket, keeping the caller's", async () => {
    const user = await seedUser(server, 'viewer');
    const current = await liveSession(user);
    const others = [await liveSession(user), await liveSession(user)];

    await expect(current.client.sessions.revokeOthers.mutate()).resolves.toEqual({ revoked: 2 });
    const since = Date.now();

    for (const o of others) await expectDead(o, since, 'signed_out_elsewhere');
    await expectAlive(current);
  });
});

describe('auth.changePassword', () => {
  it('kills every other session and its socket; the current session keeps working', async () => {
    const user = await seedUser(server, 'trader');
    const current = await liveSession(user);
    const others = [await liveSession(user), await liveSession(user)];
    const newPassword = strongPassword();

    await expect(
      current.client.auth.changePassword.mutate({ currentPassword: user.password, newPassword }),
    ).resolves.toEqual({ ok: true, revokedSessions: 2 });
    const since = Date.now();

    for (const o of others) await expectDead(o, since, 'password_changed');
    await expectAlive(current);
    expect((await sessionRow(server, current.sessionId)).revokedAt).toBeNull();
    // The current session can still rotate its refresh token.
    await expect(httpClient(server).auth.refresh.mutate({ refreshToken: current.refreshToken })).resolves.toMatchObject({
      user: { id: user.id },
    });

    const old = await rejectionOf(httpClient(server).auth.login.mutate({ email: user.email, password: user.password }));
    expect(old.message).toBe('Invalid email or password');
    await expect(httpClient(server).auth.login.mutate({ email: user.email, password: newPassword })).resolves.toMatchObject({
      user: { id: user.id },
    });
  });

  it('revokes nothing when the current password is wrong', async () => {
    const user = await seedUser(server, 'trader');
    const current = await liveSession(user);
    const other = await liveSession(user);
    const err = await rejectionOf(
      current.client.auth.changePassword.mutate({ currentPassword: `${user.password}-no`, newPassword: strongPassword() }),
    );
    expect(err.data?.code).toBe('BAD_REQUEST');
    await expectAlive(other);
    await expectAlive(current);
  });
});

describe('admin users.update', () => {
  let admin: Awaited<ReturnType<typeof signIn>>;
  beforeAll(async () => {
    admin = await signIn(server, await seedUser(server, 'admin'));
  });

  it("disabling a user kills all of that user's sessions and sockets at once", async () => {
    const user = await seedUser(server, 'trader');
    const sessions = [await liveSession(user), await liveSession(user)];

    await expect(admin.client.users.update.mutate({ id: user.id, status: 'disabled' })).resolves.toMatchObject({ status: 'disabled' });
    const since = Date.now();

    for (const s of sessions) await expectDead(s, since, 'disabled');
    const login = await rejectionOf(httpClient(server).auth.login.mutate({ email: user.email, password: user.password }));
    expect(login.message).toBe('Invalid email or password');

    // Enabling the account again does not bring the old sessions back.
    await admin.client.users.update.mutate({ id: user.id, status: 'active' });
    await expectTokenRejected(server, sessions[0]!.accessToken);
    const fresh = await loginForBody(server, user);
    await expect(bearer(server, fresh.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: fresh.sessionId });
    // The admin's own session is unaffected.
    await expect(admin.client.auth.me.query()).resolves.toMatchObject({ role: 'admin' });
  });

  it("changing a user's role kills all of that user's sessions and sockets at once", async () => {
    const user = await seedUser(server, 'trader');
    const sessions = [await liveSession(user), await liveSession(user)];
    await expect(sessions[0]!.client.auth.me.query()).resolves.toMatchObject({ role: 'trader' });

    await expect(admin.client.users.update.mutate({ id: user.id, role: 'viewer' })).resolves.toMatchObject({ role: 'viewer' });
    const since = Date.now();

    for (const s of sessions) await expectDead(s, since, 'role_changed');
    expect((await sessionRowsOf(server, user.id)).every((r) => r.revokedReason === 'role_changed')).toBe(true);

    // A new sign-in carries the new role.
    const fresh = await loginForBody(server, user);
    expect(decodeJwt(fresh.accessToken).payload.role).toBe('viewer');
    const me = await bearer(server, fresh.accessToken).auth.me.query();
    expect(me.role).toBe('viewer');
    expect([...me.permissions].sort()).toEqual(permissionsFor('viewer').sort());
    await expect(admin.client.auth.me.query()).resolves.toMatchObject({ role: 'admin' });
  });

  it('an update that changes nothing revokes nothing', async () => {
    const user = await seedUser(server, 'viewer');
    const s = await liveSession(user);
    await admin.client.users.update.mutate({ id: user.id, role: 'viewer', status: 'active' });
    await expectAlive(s);
  });
});

// README (Sign-in and sessions): a password change or an admin's reset ends sessions but leaves the
// user's API keys working, over HTTP and on sockets opened with them; users.revokeAccess ends those.
describe('a password change or reset and API keys', () => {
  const keySockets: WsTestClient[] = [];
  let keys = 0;
  afterEach(async () => {
    await Promise.all(keySockets.splice(0).map((ws) => ws.close()));
  });

  /** A key made by a live session of `user`, and a socket opened with it that has answered once. */
  async function keyOf(s: Awaited<ReturnType<typeof liveSession>>) {
    const { key, apiKey } = await s.client.apiKeys.create.mutate({ name: `svc-${++keys}`, permissions: ['apikeys.manage'] });
    const ws = keyWsClient(server, key);
    keySockets.push(ws);
    await expect(ws.trpc.apiKeys.list.query()).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ id: apiKey.id })]));
    return { key, id: apiKey.id, ws };
  }

  async function expectKeyWorks(k: Awaited<ReturnType<typeof keyOf>>) {
    await expect(keyClient(server, k.key).apiKeys.list.query()).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ id: k.id, status: 'active' })]));
    await expect(k.ws.trpc.apiKeys.list.query()).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ id: k.id })]));
    expect(k.ws.closes).toEqual([]);
  }

  it('auth.changePassword ends the other sessions; a key made before still works, over HTTP and its open socket', async () => {
    const user = await seedUser(server, 'trader');
    const current = await liveSession(user);
    const other = await liveSession(user);
    const k = await keyOf(current);

    await expect(current.client.auth.changePassword.mutate({ currentPassword: user.password, newPassword: strongPassword() })).resolves.toEqual({
      ok: true,
      revokedSessions: 1,
    });
    const since = Date.now();

    await expectDead(other, since, 'password_changed');
    await expectKeyWorks(k);
    // The key outlived the change on purpose; ending it is users.revokeAccess's job (or apiKeys.revoke).
    expect((await apiKeyRow(server, k.id)).revokedAt).toBeNull();
  });

  it('users.resetPassword ends every session of the user; a key made before still works, over HTTP and its open socket', async () => {
    const admin = await seedUser(server, 'admin');
    const adminSession = await liveSession(admin);
    const user = await seedUser(server, 'trader');
    const sessions = [await liveSession(user), await liveSession(user)];
    const k = await keyOf(sessions[0]!);

    await adminSession.client.users.resetPassword.mutate({ id: user.id });
    const since = Date.now();

    for (const s of sessions) await expectDead(s, since, 'password_reset');
    await expectKeyWorks(k);
    expect((await apiKeyRow(server, k.id)).revokedAt).toBeNull();
  });
});
