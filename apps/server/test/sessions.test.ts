import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, errorData, httpClient, rejectionOf } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  auditRowsFor,
  bearer,
  bodyRefreshToken,
  expectTokenRejected,
  expectUnauthorized,
  loginForBody,
  sessionRow,
  sessionRowsOf,
} from './support/session-helpers.ts';
import { seedUser, type SeededUser } from './support/users.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** Refreshes with a body token; returns the new pair. */
async function refresh(s: TestServer, refreshToken: string) {
  const res = await httpClient(s).auth.refresh.mutate({ refreshToken });
  const next = bodyRefreshToken(res);
  if (!next) throw new Error('refresh returned no body token');
  return { accessToken: res.accessToken, refreshToken: next };
}

async function loginAs(s: TestServer, user: SeededUser, userAgent?: string) {
  return loginForBody(s, user, userAgent ? { 'user-agent': userAgent } : {});
}

describe('sessions.list', () => {
  it("lists the caller's live sessions with ip, userAgent, createdAt, lastSeenAt and the current flag", async () => {
    const [me, other] = await Promise.all([seedUser(server, 'trader'), seedUser(server, 'trader')]);
    const desk = await loginAs(server, me, 'DeskBrowser/1.0');
    const phone = await loginAs(server, me, 'PhoneApp/2.0');
    const gone = await loginAs(server, me, 'OldLaptop/0.9');
    await loginAs(server, other, 'SomeoneElse/1.0');
    await bearer(server, gone.accessToken).auth.logout.mutate();

    const list = await bearer(server, desk.accessToken).sessions.list.query();
    expect(list.map((s) => s.id).sort()).toEqual([desk.sessionId, phone.sessionId].sort());

    const mine = list.find((s) => s.id === desk.sessionId);
    const theirs = list.find((s) => s.id === phone.sessionId);
    expect(mine).toMatchObject({ current: true, ip: '127.0.0.1', userAgent: 'DeskBrowser/1.0' });
    expect(theirs).toMatchObject({ current: false, ip: '127.0.0.1', userAgent: 'PhoneApp/2.0' });

    const stored = await sessionRow(server, phone.sessionId);
    expect(theirs?.createdAt).toBe(stored.createdAt.toISOString());
    expect(theirs?.lastSeenAt).toBe(stored.lastSeenAt.toISOString());

    // Seen from the other device, the current flag moves with the caller.
    const fromPhone = await bearer(server, phone.accessToken).sessions.list.query();
    expect(fromPhone.filter((s) => s.current).map((s) => s.id)).toEqual([phone.sessionId]);
  });

  it('shows activity: lastSeenAt moves when the session is used', async () => {
    const user = await seedUser(server, 'viewer');
    const a = await loginAs(server, user);
    const b = await loginAs(server, user);
    const before = (await bearer(server, a.accessToken).sessions.list.query()).find((s) => s.id === b.sessionId);

    server.clock.advance(2 * MINUTE);
    await bearer(server, b.accessToken).auth.me.query();

    const after = (await bearer(server, a.accessToken).sessions.list.query()).find((s) => s.id === b.sessionId);
    expect(after?.createdAt).toBe(before?.createdAt);
    expect(Date.parse(after?.lastSeenAt ?? '')).toBeGreaterThanOrEqual(Date.parse(before?.lastSeenAt ?? '') + 2 * MINUTE);
  });
});

describe('sessions.revoke', () => {
  it('revokes one of my other sessions at once', async () => {
    const user = await seedUser(server, 'trader');
    const keep = await loginAs(server, user);
    const drop = await loginAs(server, user);
    const dropClient = bearer(server, drop.accessToken);
    await expect(dropClient.auth.me.query()).resolves.toMatchObject({ sessionId: drop.sessionId });

    await expect(bearer(server, keep.accessToken).sessions.revoke.mutate({ sessionId: drop.sessionId })).resolves.toEqual({ ok: true });

    // The very next request with the revoked session's (unexpired) token fails.
    await expectTokenRejected(server, drop.accessToken);
    await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: drop.refreshToken }));
    expect((await sessionRow(server, drop.sessionId)).revokedReason).toBe('revoked_by_user');
    const audited = await auditRowsFor(server, 'session.revoked', drop.sessionId);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ actorId: user.id, details: { current: false } });

    await expect(bearer(server, keep.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: keep.sessionId });
    const list = await bearer(server, keep.accessToken).sessions.list.query();
    expect(list.map((s) => s.id)).toEqual([keep.sessionId]);
  });

  it('revoking the current session signs the caller out', async () => {
    const user = await seedUser(server, 'viewer');
    const s = await loginAs(server, user);
    const client = bearer(server, s.accessToken);
    await client.sessions.revoke.mutate({ sessionId: s.sessionId });
    await expectTokenRejected(server, s.accessToken);
  });

  it("answers NOT_FOUND for another user's session and leaves that session alone", async () => {
    const [alice, bob] = await Promise.all([seedUser(server, 'trader'), seedUser(server, 'trader')]);
    const a = await loginAs(server, alice);
    const b = await loginAs(server, bob);
    const aliceClient = bearer(server, a.accessToken);

    const err = await rejectionOf(aliceClient.sessions.revoke.mutate({ sessionId: b.sessionId }));
    expect(errorData(err)).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    // Same answer as for a session that does not exist at all: nothing to learn.
    const none = await rejectionOf(aliceClient.sessions.revoke.mutate({ sessionId: randomUUID() }));
    expect(none.message).toBe(err.message);
    expect(errorData(none)).toEqual(errorData(err));

    expect((await sessionRow(server, b.sessionId)).revokedAt).toBeNull();
    await expect(bearer(server, b.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: b.sessionId });
    await expect(refresh(server, b.refreshToken)).resolves.toMatchObject({ refreshToken: expect.any(String) });
  });

  it('answers NOT_FOUND for a session already revoked, and BAD_REQUEST for a malformed id', async () => {
    const user = await seedUser(server, 'trader');
    const a = await loginAs(server, user);
    const b = await loginAs(server, user);
    const client = bearer(server, a.accessToken);
    await client.sessions.revoke.mutate({ sessionId: b.sessionId });
    expect(errorData(await rejectionOf(client.sessions.revoke.mutate({ sessionId: b.sessionId }))).code).toBe('NOT_FOUND');
    expect(errorData(await rejectionOf(client.sessions.revoke.mutate({ sessionId: 'not-a-uuid' }))).code).toBe('BAD_REQUEST');
  });
});

describe('sessions.revokeOthers', () => {
  it("ends all of the caller's sessions but the current one", async () => {
    const [user, bystander] = await Promise.all([seedUser(server, 'trader'), seedUser(server, 'trader')]);
    const current = await loginAs(server, user);
    const others = [await loginAs(server, user), await loginAs(server, user)];
    const unrelated = await loginAs(server, bystander);

    await expect(bearer(server, current.accessToken).sessions.revokeOthers.mutate()).resolves.toEqual({ revoked: 2 });

    await expect(bearer(server, current.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: current.sessionId });
    for (const o of others) {
      await expectTokenRejected(server, o.accessToken);
      await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: o.refreshToken }));
      expect((await sessionRow(server, o.sessionId)).revokedReason).toBe('signed_out_elsewhere');
    }
    await expect(bearer(server, unrelated.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: unrelated.sessionId });
    expect((await bearer(server, current.accessToken).sessions.list.query()).map((s) => s.id)).toEqual([current.sessionId]);

    // Nothing left to revoke.
    await expect(bearer(server, current.accessToken).sessions.revokeOthers.mutate()).resolves.toEqual({ revoked: 0 });
  });
});

describe('session limit', () => {
  it('the 6th sign-in evicts the least recently used session; the other 4 keep working', async () => {
    const user = await seedUser(server, 'trader');
    const s: Awaited<ReturnType<typeof loginAs>>[] = [];
    for (let i = 0; i < 5; i++) {
      s.push(await loginAs(server, user, `device-${i + 1}`));
      server.clock.advance(1_000);
    }
    // Use the oldest session, so the least recently used is now the second one, not the first.
    server.clock.advance(31_000);
    await bearer(server, s[0]!.accessToken).auth.me.query();
    expect((await sessionRow(server, s[0]!.sessionId)).lastSeenAt.getTime()).toBeGreaterThan(
      (await sessionRow(server, s[1]!.sessionId)).lastSeenAt.getTime(),
    );

    const sixth = await loginAs(server, user, 'device-6');

    const evicted = await sessionRow(server, s[1]!.sessionId);
    expect(evicted.revokedReason).toBe('evicted');
    await expectTokenRejected(server, s[1]!.accessToken);
    await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: s[1]!.refreshToken }));

    for (const kept of [s[0]!, s[2]!, s[3]!, s[4]!, sixth]) {
      await expect(bearer(server, kept.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: kept.sessionId });
    }
    const rows = await sessionRowsOf(server, user.id);
    expect(rows.filter((r) => r.revokedAt === null)).toHaveLength(5);
    expect(rows.filter((r) => r.revokedAt !== null).map((r) => r.id)).toEqual([s[1]!.sessionId]);
    expect(await auditRowsFor(server, 'session.evicted', s[1]!.sessionId)).toHaveLength(1);
  });

  it('five parallel sign-ins on top of five sessions still leave exactly five live', async () => {
    const user = await seedUser(server, 'viewer');
    for (let i = 0; i < 5; i++) await loginAs(server, user);
    const fresh = await Promise.all(Array.from({ length: 5 }, () => loginAs(server, user)));
    const live = (await sessionRowsOf(server, user.id)).filter((r) => r.revokedAt === null);
    expect(live.map((r) => r.id).sort()).toEqual(fresh.map((f) => f.sessionId).sort());
  });
});

describe('idle timeout (30 minutes)', () => {
  it('keeps a session refreshed every 9 minutes alive, tolerates 29 idle minutes, and ends it after 31', async () => {
    const user = await seedUser(server, 'trader');
    const login = await loginAs(server, user);
    let pair = { accessToken: login.accessToken, refreshToken: login.refreshToken };

    // Refreshes only (no API calls, which count as activity too): minutes 9, 18 and 27.
    for (let i = 0; i < 3; i++) {
      server.clock.advance(9 * MINUTE);
      pair = await refresh(server, pair.refreshToken);
    }
    // 29 minutes without any request (56 minutes after sign-in): still alive.
    server.clock.advance(29 * MINUTE);
    pair = await refresh(server, pair.refreshToken);

    // 31 minutes without any request: the session has ended.
    server.clock.advance(31 * MINUTE);
    const { data } = await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: pair.refreshToken }));
    expect(data.reason).toBe('SESSION_ENDED');
    const row = await sessionRow(server, login.sessionId);
    expect(row.idleExpiresAt.getTime()).toBeLessThanOrEqual(server.clock.now().getTime());
    expect(row.absoluteExpiresAt.getTime()).toBeGreaterThan(server.clock.now().getTime());
    // Still fails when tried again.
    await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: pair.refreshToken }));
    const failures = await auditRowsFor(server, 'auth.refresh_failed', login.sessionId);
    expect(failures.map((f) => f.details.reason)).toContain('session_ended');
  });

  it('counts authenticated API calls as activity, not only refreshes', async () => {
    const user = await seedUser(server, 'viewer');
    const busy = await loginAs(server, user);
    const idle = await loginAs(server, user);

    server.clock.advance(9 * MINUTE);
    await bearer(server, busy.accessToken).auth.me.query();

    // 38 minutes after sign-in: the session used at minute 9 lives, the untouched one does not.
    server.clock.advance(29 * MINUTE);
    await expect(refresh(server, busy.refreshToken)).resolves.toMatchObject({ refreshToken: expect.any(String) });
    await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: idle.refreshToken }));
  });

  it('hides idle-expired sessions from sessions.list', async () => {
    const user = await seedUser(server, 'viewer');
    const stale = await loginAs(server, user);
    server.clock.advance(31 * MINUTE);
    const fresh = await loginAs(server, user);
    const list = await bearer(server, fresh.accessToken).sessions.list.query();
    expect(list.map((s) => s.id)).toEqual([fresh.sessionId]);
    expect(list.map((s) => s.id)).not.toContain(stale.sessionId);
  });
});

describe('absolute lifetime (12 hours)', () => {
  it('ends a session 12 hours after sign-in however active it is', async () => {
    const user = await seedUser(server, 'trader');
    const login = await loginAs(server, user);
    let pair = { accessToken: login.accessToken, refreshToken: login.refreshToken };

    // Refresh every 25 minutes up to 11 h 40 min, then once more at 11 h 55 min.
    for (let elapsed = 25; elapsed <= 700; elapsed += 25) {
      server.clock.advance(25 * MINUTE);
      pair = await refresh(server, pair.refreshToken);
    }
    server.clock.advance(15 * MINUTE);
    pair = await refresh(server, pair.refreshToken);
    await expect(bearer(server, pair.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });

    // 12 h 01 min: 6 minutes after the last refresh, well within idle and access-token limits.
    server.clock.advance(6 * MINUTE);
    const { data } = await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: pair.refreshToken }));
    expect(data.reason).toBe('SESSION_ENDED');
    // The access token minted 6 minutes ago is not expired, but its session is.
    await expectTokenRejected(server, pair.accessToken);

    server.clock.advance(1 * MINUTE);
    await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: pair.refreshToken }));
    const row = await sessionRow(server, login.sessionId);
    expect(row.absoluteExpiresAt.getTime() - row.createdAt.getTime()).toBe(12 * HOUR);
  });
});

describe('configurable limits', () => {
  let custom: TestServer;
  beforeAll(async () => {
    custom = await startTestServer({
      security: { sessionIdleMs: 5 * MINUTE, sessionAbsoluteMs: 20 * MINUTE, maxSessionsPerUser: 2 },
    });
  });
  afterAll(async () => {
    await custom?.close();
  });

  it('applies a configured idle timeout', async () => {
    const user = await seedUser(custom, 'trader');
    const login = await loginAs(custom, user);
    custom.clock.advance(4 * MINUTE);
    const pair = await refresh(custom, login.refreshToken);
    custom.clock.advance(6 * MINUTE);
    await expectUnauthorized(httpClient(custom).auth.refresh.mutate({ refreshToken: pair.refreshToken }));
  });

  it('applies a configured absolute lifetime, also to the cookie', async () => {
    const user = await seedUser(custom, 'trader');
    const jar = new CookieJar();
    await httpClient(custom, { jar }).auth.login.mutate({ email: user.email, password: user.password });
    const cookie = jar.setCookieHeaders.find((l) => l.startsWith('tv_refresh='));
    const maxAge = Number(/Max-Age=(\d+)/i.exec(cookie ?? '')?.[1]);
    expect(maxAge).toBeLessThanOrEqual(20 * 60);
    expect(maxAge).toBeGreaterThan(20 * 60 - 10);

    const login = await loginAs(custom, user);
    let token = login.refreshToken;
    for (let i = 0; i < 4; i++) {
      custom.clock.advance(4 * MINUTE);
      token = (await refresh(custom, token)).refreshToken;
    }
    custom.clock.advance(3 * MINUTE); // 19 minutes
    token = (await refresh(custom, token)).refreshToken;
    custom.clock.advance(2 * MINUTE); // 21 minutes
    await expectUnauthorized(httpClient(custom).auth.refresh.mutate({ refreshToken: token }));
  });

  it('applies a configured session cap', async () => {
    const user = await seedUser(custom, 'viewer');
    const first = await loginAs(custom, user);
    custom.clock.advance(1_000);
    const second = await loginAs(custom, user);
    custom.clock.advance(1_000);
    const third = await loginAs(custom, user);
    expect((await sessionRow(custom, first.sessionId)).revokedReason).toBe('evicted');
    await expectTokenRejected(custom, first.accessToken);
    for (const kept of [second, third]) {
      await expect(bearer(custom, kept.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: kept.sessionId });
    }
  });
});
