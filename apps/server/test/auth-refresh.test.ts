import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, httpClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  auditRowsFor,
  bearer,
  bodyRefreshToken,
  expectRevokedClose,
  expectTokenRejected,
  expectUnauthorized,
  loginForBody,
  openSocket,
  refreshTokenRows,
  sessionRow,
  sidOf,
} from './support/session-helpers.ts';
import { seedUser, signIn } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

function lastRefreshCookieLine(jar: CookieJar): string {
  const line = jar.setCookieHeaders.filter((l) => l.startsWith('tv_refresh=')).at(-1);
  if (!line) throw new Error('no tv_refresh Set-Cookie header seen');
  return line;
}

describe('auth.refresh with the cookie', () => {
  it('rotates the cookie and mints a new access token for the same session', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const sessionId = sidOf(session.token);
    const first = session.jar.get('tv_refresh') as string;
    expect(first).toBeTruthy();

    const before = session.jar.setCookieHeaders.length;
    const res = await httpClient(server, { jar: session.jar }).auth.refresh.mutate();
    expect(bodyRefreshToken(res)).toBeUndefined();
    expect(session.jar.setCookieHeaders.length).toBe(before + 1);
    const line = lastRefreshCookieLine(session.jar);
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Strict/i);
    expect(line).toMatch(/Path=\/trpc/);
    const second = session.jar.get('tv_refresh') as string;
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);

    expect(res.accessToken).not.toBe(session.token);
    expect(sidOf(res.accessToken)).toBe(sessionId);
    await expect(bearer(server, res.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId, user: { id: trader.id } });

    // Stored: the old token is spent and points to its successor, which names it as parent.
    const rows = await refreshTokenRows(server, sessionId);
    expect(rows).toHaveLength(2);
    const old = rows.find((r) => r.tokenHash === sha256(first));
    const next = rows.find((r) => r.tokenHash === sha256(second));
    expect(old?.usedAt).toBeInstanceOf(Date);
    expect(old?.replacedById).toBe(next?.id);
    expect(next?.parentId).toBe(old?.id);
    expect(next?.usedAt).toBeNull();

    const audited = await auditRowsFor(server, 'auth.refresh', sessionId);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ outcome: 'success', actorId: trader.id });

    // Rotation every time: the new cookie rotates again.
    await httpClient(server, { jar: session.jar }).auth.refresh.mutate();
    const third = session.jar.get('tv_refresh');
    expect(third).toBeTruthy();
    expect(new Set([first, second, third]).size).toBe(3);
    expect(await refreshTokenRows(server, sessionId)).toHaveLength(3);
  });

  it('reads the cookie when called with no input over an unbatched link (the browser refresh call)', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const before = session.jar.get('tv_refresh');
    // httpLink sends a mutation without input as a POST with an empty body.
    const res = await httpClient(server, { jar: session.jar, batch: false }).auth.refresh.mutate();
    expect(sidOf(res.accessToken)).toBe(sidOf(session.token));
    expect(session.jar.get('tv_refresh')).toBeTruthy();
    expect(session.jar.get('tv_refresh')).not.toBe(before);
    const { data } = await expectUnauthorized(httpClient(server, { batch: false }).auth.refresh.mutate());
    expect(data.reason).toBe('NO_REFRESH_TOKEN');
  });

  it('answers a replay of the previous cookie within the grace window with the same successor cookie', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const original = session.jar.get('tv_refresh') as string;

    const tabA = new CookieJar();
    tabA.set('tv_refresh', original);
    const tabB = new CookieJar();
    tabB.set('tv_refresh', original);

    await httpClient(server, { jar: tabA }).auth.refresh.mutate();
    server.clock.advance(5_000);
    const replay = await httpClient(server, { jar: tabB }).auth.refresh.mutate();

    expect(tabA.get('tv_refresh')).toBeTruthy();
    expect(tabB.get('tv_refresh')).toBe(tabA.get('tv_refresh'));
    await expect(bearer(server, replay.accessToken).auth.me.query()).resolves.toMatchObject({ user: { id: trader.id } });
    expect(await refreshTokenRows(server, sidOf(session.token))).toHaveLength(2);
  });
});

describe('auth.refresh with the token in the body', () => {
  it('returns the successor in the body and sets no cookie', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const jar = new CookieJar();

    const res = await httpClient(server, { jar }).auth.refresh.mutate({ refreshToken: login.refreshToken });
    const successor = bodyRefreshToken(res);
    expect(successor).toEqual(expect.any(String));
    expect(successor).not.toBe(login.refreshToken);
    expect(jar.setCookieHeaders).toEqual([]);
    expect(sidOf(res.accessToken)).toBe(login.sessionId);
    await expect(bearer(server, res.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });

    const again = await httpClient(server).auth.refresh.mutate({ refreshToken: successor as string });
    expect(bodyRefreshToken(again)).toEqual(expect.any(String));
    expect(bodyRefreshToken(again)).not.toBe(successor);
  });

  it('follows the input: a body token wins over a cookie, and gets its answer in the body', async () => {
    const trader = await seedUser(server, 'trader');
    const cookieSession = await signIn(server, trader);
    const bodyLogin = await loginForBody(server, trader);
    const cookieBefore = cookieSession.jar.get('tv_refresh');
    const headersBefore = cookieSession.jar.setCookieHeaders.length;

    const res = await httpClient(server, { jar: cookieSession.jar }).auth.refresh.mutate({ refreshToken: bodyLogin.refreshToken });
    expect(sidOf(res.accessToken)).toBe(bodyLogin.sessionId);
    expect(bodyRefreshToken(res)).toEqual(expect.any(String));
    // The cookie session was not touched.
    expect(cookieSession.jar.setCookieHeaders.length).toBe(headersBefore);
    expect(cookieSession.jar.get('tv_refresh')).toBe(cookieBefore);
    expect(await refreshTokenRows(server, sidOf(cookieSession.token))).toHaveLength(1);
  });

  it('returns the same successor to a replay within 10 seconds', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const anon = httpClient(server);

    const first = await anon.auth.refresh.mutate({ refreshToken: login.refreshToken });
    server.clock.advance(9_000);
    const replay = await anon.auth.refresh.mutate({ refreshToken: login.refreshToken });

    expect(bodyRefreshToken(replay)).toBe(bodyRefreshToken(first));
    const rows = await refreshTokenRows(server, login.sessionId);
    expect(rows).toHaveLength(2);
    const root = rows.find((r) => r.parentId === null);
    expect(rows.filter((r) => r.parentId === root?.id)).toHaveLength(1);
    expect((await sessionRow(server, login.sessionId)).revokedAt).toBeNull();
    await expect(bearer(server, replay.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
    await expect(bearer(server, first.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
  });
});

describe('refresh token reuse', () => {
  it('treats a replay after the grace window as theft and revokes the whole session', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const anon = httpClient(server);

    const legit = await anon.auth.refresh.mutate({ refreshToken: login.refreshToken });
    const legitRefresh = bodyRefreshToken(legit) as string;
    const legitClient = bearer(server, legit.accessToken);
    await expect(legitClient.auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
    const socket = await openSocket(server, legit.accessToken);
    try {

      server.clock.advance(11_000);
      const { data } = await expectUnauthorized(anon.auth.refresh.mutate({ refreshToken: login.refreshToken }));
      const revokedAt = Date.now();
      expect(data.reason).toBe('REFRESH_TOKEN_REUSED');

      const row = await sessionRow(server, login.sessionId);
      expect(row.revokedReason).toBe('refresh_token_reuse');
      expect(row.revokedAt).toBeInstanceOf(Date);

      const audited = await auditRowsFor(server, 'auth.refresh_reuse', login.sessionId);
      expect(audited).toHaveLength(1);
      expect(audited[0]).toMatchObject({ severity: 'HIGH', outcome: 'denied', actorId: trader.id, resourceType: 'session' });

      // Everything minted for the session dies with it: the access token on its next request,
      // the legitimate holder's current refresh token, and the open socket.
      await expectTokenRejected(server, legit.accessToken);
      await expectUnauthorized(anon.auth.refresh.mutate({ refreshToken: legitRefresh }));
      await expectRevokedClose(socket, revokedAt);
    } finally {
      await socket.close();
    }
  });

  it('also detects a reused cookie, and clears the cookie', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const stolen = session.jar.get('tv_refresh') as string;
    await httpClient(server, { jar: session.jar }).auth.refresh.mutate();

    server.clock.advance(11_000);
    const thief = new CookieJar();
    thief.set('tv_refresh', stolen);
    const { data } = await expectUnauthorized(httpClient(server, { jar: thief }).auth.refresh.mutate());
    expect(data.reason).toBe('REFRESH_TOKEN_REUSED');
    expect(thief.setCookieHeaders.some((l) => l.startsWith('tv_refresh=;') && /Max-Age=0/i.test(l))).toBe(true);
    expect((await sessionRow(server, sidOf(session.token))).revokedReason).toBe('refresh_token_reuse');
    // The rightful owner's newer cookie is dead too.
    await expectUnauthorized(httpClient(server, { jar: session.jar }).auth.refresh.mutate());
  });
});

describe('concurrent refreshes', () => {
  it('20 parallel refreshes of one token all succeed with one shared successor', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const [root] = await refreshTokenRows(server, login.sessionId);

    // Separate HTTP requests (no batching), all presenting the same token at once.
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => httpClient(server, { batch: false }).auth.refresh.mutate({ refreshToken: login.refreshToken })),
    );
    const failures = results.filter((r) => r.status === 'rejected');
    expect(failures.map((f) => String((f as PromiseRejectedResult).reason))).toEqual([]);
    const answers = results.map((r) => (r as PromiseFulfilledResult<{ accessToken: string }>).value);
    const successors = new Set(answers.map((a) => bodyRefreshToken(a)));
    expect(successors.size).toBe(1);
    const [successor] = [...successors];
    expect(successor).toEqual(expect.any(String));
    expect(successor).not.toBe(login.refreshToken);

    const rows = await refreshTokenRows(server, login.sessionId);
    expect(rows.filter((r) => r.parentId === root?.id)).toHaveLength(1);
    expect(rows).toHaveLength(2);

    // The session is alive: new access tokens work and the successor rotates normally.
    expect((await sessionRow(server, login.sessionId)).revokedAt).toBeNull();
    await expect(bearer(server, answers[19]!.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
    const next = await httpClient(server).auth.refresh.mutate({ refreshToken: successor as string });
    expect(bodyRefreshToken(next)).not.toBe(successor);
  });

  it('20 parallel refreshes of one cookie all get the same successor cookie', async () => {
    const trader = await seedUser(server, 'trader');
    const session = await signIn(server, trader);
    const original = session.jar.get('tv_refresh') as string;
    const jars = Array.from({ length: 20 }, () => {
      const jar = new CookieJar();
      jar.set('tv_refresh', original);
      return jar;
    });
    const results = await Promise.allSettled(jars.map((jar) => httpClient(server, { jar, batch: false }).auth.refresh.mutate()));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const cookies = new Set(jars.map((j) => j.get('tv_refresh')));
    expect(cookies.size).toBe(1);
    expect([...cookies][0]).not.toBe(original);
    const rows = await refreshTokenRows(server, sidOf(session.token));
    expect(rows).toHaveLength(2);
    expect((await sessionRow(server, sidOf(session.token))).revokedAt).toBeNull();
  });
});

describe('refusals', () => {
  it('refuses a refresh without any token', async () => {
    const { data } = await expectUnauthorized(httpClient(server).auth.refresh.mutate());
    expect(data.reason).toBe('NO_REFRESH_TOKEN');
    const { data: emptyInput } = await expectUnauthorized(httpClient(server).auth.refresh.mutate({}));
    expect(emptyInput.reason).toBe('NO_REFRESH_TOKEN');
  });

  it('refuses an unknown refresh token, clears the cookie and audits the failure', async () => {
    const made = randomBytes(32).toString('base64url');
    const { data } = await expectUnauthorized(httpClient(server).auth.refresh.mutate({ refreshToken: made }));
    expect(data.reason).toBe('SESSION_ENDED');

    const jar = new CookieJar();
    jar.set('tv_refresh', randomBytes(32).toString('base64url'));
    await expectUnauthorized(httpClient(server, { jar }).auth.refresh.mutate());
    expect(jar.get('tv_refresh')).toBeUndefined();
    expect(jar.setCookieHeaders.some((l) => /^tv_refresh=;/.test(l) && /Max-Age=0/i.test(l) && /Path=\/trpc/.test(l))).toBe(true);

    await server.app.deps.audit.flush();
    const failures = await server.app.deps.db.query.auditLogs.findMany({
      where: (a, { eq }) => eq(a.action, 'auth.refresh_failed'),
    });
    expect(failures.filter((f) => f.details.reason === 'unknown').length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(failures)).not.toContain(made);
  });

  it('rejects an access token offered as a refresh token', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const { data } = await expectUnauthorized(
      httpClient(server).auth.refresh.mutate({ refreshToken: login.accessToken.slice(0, 128) }),
    );
    expect(data.reason).toBe('SESSION_ENDED');
    // The real refresh token still works: nothing was spent by the failed attempt.
    await expect(httpClient(server).auth.refresh.mutate({ refreshToken: login.refreshToken })).resolves.toMatchObject({
      user: { id: trader.id },
    });
  });
});
