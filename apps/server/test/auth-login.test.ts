import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permissionsFor, type AppRouter } from '@tapevision/api';
import { CookieJar, errorData, httpClient, rejectionOf } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  accessTokenKey,
  auditRows,
  bearer,
  bodyRefreshToken,
  craftJwt,
  decodeJwt,
  expectTokenRejected,
  expectUnauthorized,
  loginForBody,
  refreshTokenRows,
  userRow,
} from './support/session-helpers.ts';
import { seedUser, signIn } from './support/users.ts';

const INVALID = 'Invalid email or password';
const jwtSecret = randomBytes(32);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ jwtSecret });
});
afterAll(async () => {
  await server?.close();
});

function refreshCookieLines(jar: CookieJar): string[] {
  return jar.setCookieHeaders.filter((line) => line.startsWith('tv_refresh='));
}

function attributes(line: string): Map<string, string> {
  const [, ...attrs] = line.split(';');
  return new Map(
    attrs.map((a) => {
      const [k = '', v = ''] = a.trim().split('=');
      return [k.toLowerCase(), v];
    }),
  );
}

describe('auth.login', () => {
  it('returns an HS256 access token with sub, sid, role, iss, aud, jti and exp = iat + 600 s', async () => {
    const trader = await seedUser(server, 'trader');
    const before = Math.floor(server.clock.now().getTime() / 1000);
    const res = await httpClient(server).auth.login.mutate({ email: trader.email, password: trader.password });
    const after = Math.ceil(server.clock.now().getTime() / 1000);

    const { header, payload } = decodeJwt(res.accessToken);
    expect(header.alg).toBe('HS256');
    expect(payload.sub).toBe(trader.id);
    expect(payload.role).toBe('trader');
    expect(payload.iss).toBe('tapevision');
    expect(payload.aud).toBe('tapevision-api');
    expect(payload.jti).toEqual(expect.any(String));
    expect(String(payload.jti).length).toBeGreaterThan(8);
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.iat).toBeLessThanOrEqual(after);
    expect(payload.exp).toBe(Number(payload.iat) + 600);
    expect(res.accessTokenExpiresAt).toBe(new Date(Number(payload.exp) * 1000).toISOString());

    // sid names the session the server stored for this sign-in.
    const me = await bearer(server, res.accessToken).auth.me.query();
    expect(payload.sid).toBe(me.sessionId);

    expect(res.user).toMatchObject({ id: trader.id, email: trader.email, role: 'trader', status: 'active' });
    expect(res.user).not.toHaveProperty('passwordHash');
    expect(res).not.toHaveProperty('refreshToken');

    // Every token gets its own jti.
    const again = await httpClient(server).auth.login.mutate({ email: trader.email, password: trader.password });
    expect(decodeJwt(again.accessToken).payload.jti).not.toBe(payload.jti);
    expect(decodeJwt(again.accessToken).payload.sid).not.toBe(payload.sid);
  });

  it('sets the refresh token as an HttpOnly, SameSite=Strict cookie on Path=/trpc, not Secure over plain HTTP', async () => {
    const trader = await seedUser(server, 'trader');
    const jar = new CookieJar();
    // A client-supplied X-Forwarded-Proto must not count: this server does not trust a proxy.
    const res = await httpClient(server, { jar, headers: { 'x-forwarded-proto': 'https' } }).auth.login.mutate({
      email: trader.email,
      password: trader.password,
    });
    expect(res).not.toHaveProperty('refreshToken');

    const lines = refreshCookieLines(jar);
    expect(lines).toHaveLength(1);
    const attrs = attributes(lines[0] as string);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')?.toLowerCase()).toBe('strict');
    expect(attrs.get('path')).toBe('/trpc');
    expect(attrs.has('secure')).toBe(false);
    // Lives as long as the session may: 12 hours (less the moments the sign-in took).
    const maxAge = Number(attrs.get('max-age'));
    expect(maxAge).toBeLessThanOrEqual(12 * 60 * 60);
    expect(maxAge).toBeGreaterThan(12 * 60 * 60 - 10);

    // The cookie holds a real refresh token of this session, stored only as a hash.
    const value = jar.get('tv_refresh') as string;
    expect(value.length).toBeGreaterThanOrEqual(32);
    const sessionId = decodeJwt(res.accessToken).payload.sid as string;
    const rows = await refreshTokenRows(server, sessionId);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.tokenHash).toBe(createHash('sha256').update(value).digest('hex'));
    expect(rows[0]?.tokenHash).not.toContain(value);

    const refreshed = await httpClient(server, { jar }).auth.refresh.mutate();
    expect(decodeJwt(refreshed.accessToken).payload.sid).toBe(sessionId);
  });

  it('marks the cookie Secure when a trusted proxy reports https', async () => {
    const proxied = await startTestServer({ trustProxy: true });
    try {
      const trader = await seedUser(proxied, 'trader');
      const viaHttps = new CookieJar();
      await httpClient(proxied, { jar: viaHttps, headers: { 'x-forwarded-proto': 'https' } }).auth.login.mutate({
        email: trader.email,
        password: trader.password,
      });
      const secureLine = refreshCookieLines(viaHttps)[0] as string;
      expect(attributes(secureLine).has('secure')).toBe(true);
      expect(attributes(secureLine).has('httponly')).toBe(true);
      expect(attributes(secureLine).get('samesite')?.toLowerCase()).toBe('strict');
      expect(attributes(secureLine).get('path')).toBe('/trpc');

      const viaHttp = new CookieJar();
      await httpClient(proxied, { jar: viaHttp, headers: { 'x-forwarded-proto': 'http' } }).auth.login.mutate({
        email: trader.email,
        password: trader.password,
      });
      expect(attributes(refreshCookieLines(viaHttp)[0] as string).has('secure')).toBe(false);
    } finally {
      await proxied.close();
    }
  });

  it('returns the refresh token in the body and sets no cookie when refreshTokenDelivery is "body"', async () => {
    const trader = await seedUser(server, 'trader');
    const jar = new CookieJar();
    const res = await httpClient(server, { jar }).auth.login.mutate({
      email: trader.email,
      password: trader.password,
      refreshTokenDelivery: 'body',
    });
    const refreshToken = bodyRefreshToken(res);
    expect(refreshToken).toEqual(expect.any(String));
    expect(jar.setCookieHeaders).toEqual([]);

    const sessionId = decodeJwt(res.accessToken).payload.sid as string;
    const [row] = await refreshTokenRows(server, sessionId);
    expect(row?.tokenHash).toBe(createHash('sha256').update(refreshToken as string).digest('hex'));

    const refreshed = await httpClient(server).auth.refresh.mutate({ refreshToken: refreshToken as string });
    expect(decodeJwt(refreshed.accessToken).payload.sid).toBe(sessionId);
  });

  it('auth.me returns the user, role, permissions and session id', async () => {
    const viewer = await seedUser(server, 'viewer');
    const session = await signIn(server, viewer);
    const me = await session.client.auth.me.query();
    expect(me.user).toMatchObject({ id: viewer.id, email: viewer.email, role: 'viewer', status: 'active', mustChangePassword: false });
    expect(me.user).not.toHaveProperty('passwordHash');
    expect(me.role).toBe('viewer');
    expect([...me.permissions].sort()).toEqual(permissionsFor('viewer').sort());
    expect(me.sessionId).toBe(decodeJwt(session.token).payload.sid);
  });
});

describe('access token verification', () => {
  async function freshSession() {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const { header, payload } = decodeJwt(login.accessToken);
    return { trader, login, header, payload };
  }

  it('accepts a hand-signed token with the server key and correct claims (control for the forgeries)', async () => {
    const { trader, header, payload } = await freshSession();
    const key = accessTokenKey(jwtSecret);
    const token = craftJwt(header, { ...payload, jti: randomUUID() }, key);
    const me = await bearer(server, token).auth.me.query();
    expect(me.user.id).toBe(trader.id);
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const { login, payload } = await freshSession();
    const admin = await seedUser(server, 'admin');
    const [h, , s] = login.accessToken.split('.');
    const escalate = (patch: Record<string, unknown>) =>
      `${h}.${Buffer.from(JSON.stringify({ ...payload, ...patch })).toString('base64url')}.${s}`;

    const asAdmin = escalate({ role: 'admin' });
    const { data } = await expectUnauthorized(bearer(server, asAdmin).users.list.query());
    expect(data.reason).toBe('UNAUTHENTICATED');
    await expectUnauthorized(bearer(server, escalate({ sub: admin.id })).auth.me.query());
    await expectUnauthorized(bearer(server, escalate({ exp: Number(payload.exp) + 3600 })).auth.me.query());

    // The untouched token still works: the rejection was the tampering.
    await expect(bearer(server, login.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: payload.sid });
  });

  it('rejects a token signed with another secret', async () => {
    const { header, payload } = await freshSession();
    const forged = craftJwt(header, payload, randomBytes(32));
    await expectUnauthorized(bearer(server, forged).auth.me.query());
    // The raw secret itself is not the signing key either (keys are derived per purpose).
    await expectUnauthorized(bearer(server, craftJwt(header, payload, jwtSecret)).auth.me.query());
  });

  it('rejects alg "none" tokens', async () => {
    const { login, header, payload } = await freshSession();
    const unsigned = craftJwt({ ...header, alg: 'none' }, payload, null);
    expect(unsigned.endsWith('.')).toBe(true);
    await expectUnauthorized(bearer(server, unsigned).auth.me.query());
    // Keeping the genuine signature does not help once the header says "none".
    const withSignature = `${unsigned}${login.accessToken.split('.')[2]}`;
    await expectUnauthorized(bearer(server, withSignature).auth.me.query());
  });

  it('rejects correctly signed tokens for another issuer or audience', async () => {
    const { header, payload } = await freshSession();
    const key = accessTokenKey(jwtSecret);
    await expectUnauthorized(bearer(server, craftJwt(header, { ...payload, iss: 'someone-else' }, key)).auth.me.query());
    await expectUnauthorized(bearer(server, craftJwt(header, { ...payload, aud: 'another-api' }, key)).auth.me.query());
    const { iss: _iss, ...noIssuer } = payload;
    await expectUnauthorized(bearer(server, craftJwt(header, noIssuer, key)).auth.me.query());
    const { sid: _sid, ...noSession } = payload;
    await expectUnauthorized(bearer(server, craftJwt(header, noSession, key)).auth.me.query());
  });

  it('rejects a correctly signed token whose exp has passed', async () => {
    const { header, payload } = await freshSession();
    const key = accessTokenKey(jwtSecret);
    const now = Math.floor(server.clock.now().getTime() / 1000);
    const stale = craftJwt(header, { ...payload, iat: now - 700, exp: now - 100 }, key);
    await expectUnauthorized(bearer(server, stale).auth.me.query());
  });

  it('rejects an access token once 10 minutes have passed, while the session itself lives on', async () => {
    const trader = await seedUser(server, 'trader');
    const login = await loginForBody(server, trader);
    const client = bearer(server, login.accessToken);

    server.clock.advance(9 * 60_000);
    await expect(client.auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });

    server.clock.advance(2 * 60_000);
    const { data } = await expectTokenRejected(server, login.accessToken);
    expect(data.reason).toBe('UNAUTHENTICATED');

    // Not the session's end: a refresh still yields a working token for the same session.
    const refreshed = await httpClient(server).auth.refresh.mutate({ refreshToken: login.refreshToken });
    await expect(bearer(server, refreshed.accessToken).auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
  });

  it('answers HTTP 401 for missing, malformed and garbage bearer tokens', async () => {
    const anon = await fetch(`${server.trpcUrl}/auth.me`);
    expect(anon.status).toBe(401);
    const garbage = await fetch(`${server.trpcUrl}/auth.me`, { headers: { authorization: 'Bearer not.a.jwt' } });
    expect(garbage.status).toBe(401);
    const body = (await garbage.json()) as { error: { message: string; data: { code: string } } };
    expect(body.error.data.code).toBe('UNAUTHORIZED');
    const wrongScheme = await fetch(`${server.trpcUrl}/auth.me`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(wrongScheme.status).toBe(401);

    const { login } = await freshSession();
    const ok = await fetch(`${server.trpcUrl}/auth.me`, { headers: { authorization: `Bearer ${login.accessToken}` } });
    expect(ok.status).toBe(200);
  });
});

describe('failed sign-in', () => {
  it('answers unknown email, wrong password, disabled and locked accounts alike, and audits each reason', async () => {
    const [good, wrongPw, disabled, locked, admin] = await Promise.all([
      seedUser(server, 'trader'),
      seedUser(server, 'trader'),
      seedUser(server, 'trader'),
      seedUser(server, 'viewer'),
      seedUser(server, 'admin'),
    ]);
    const adminSession = await signIn(server, admin);
    await adminSession.client.users.update.mutate({ id: disabled.id, status: 'disabled' });
    // A locked account (how it got locked is the brute-force tests' business): set it directly.
    const lockedUntil = new Date(server.clock.now().getTime() + 60 * 60_000).toISOString();
    await server.app.deps.db.execute(`update users set locked_until = '${lockedUntil}' where id = '${locked.id}'`);
    expect((await userRow(server, locked.id)).lockedUntil?.toISOString()).toBe(lockedUntil);

    const anon = httpClient(server);
    const unknownEmail = `nobody-${randomUUID()}@desk.example`;
    const attempts = {
      unknown_email: anon.auth.login.mutate({ email: unknownEmail, password: 'whatever-Pa55word-1' }),
      bad_password: anon.auth.login.mutate({ email: wrongPw.email, password: `${wrongPw.password}-nope` }),
      // Disabled and locked accounts are refused even with the right password.
      disabled: anon.auth.login.mutate({ email: disabled.email, password: disabled.password }),
      locked: anon.auth.login.mutate({ email: locked.email, password: locked.password }),
    };
    const errors = Object.fromEntries(
      await Promise.all(Object.entries(attempts).map(async ([k, p]) => [k, await rejectionOf(p)] as const)),
    );
    const shapes = Object.values(errors).map((err) => ({ message: err.message, data: errorData(err) }));
    for (const shape of shapes) {
      expect(shape.message).toBe(INVALID);
      expect(shape.data.code).toBe('UNAUTHORIZED');
      expect(shape.data.httpStatus).toBe(401);
    }
    // Nothing in the answer tells the cases apart.
    for (const shape of shapes.slice(1)) expect(shape).toEqual(shapes[0]);

    const ok = await anon.auth.login.mutate({ email: good.email, password: good.password });
    const sessionId = decodeJwt(ok.accessToken).payload.sid as string;

    const rows = await auditRows(server, ['auth.login', 'auth.login_failed']);
    const failedFor = (email: string, reason: string) =>
      rows.filter((r) => r.action === 'auth.login_failed' && r.details.email === email && r.details.reason === reason);
    const expectations: [string, string, string | null][] = [
      [unknownEmail, 'unknown_email', null],
      [wrongPw.email, 'bad_password', wrongPw.id],
      [disabled.email, 'disabled', disabled.id],
      [locked.email, 'locked', locked.id],
    ];
    for (const [email, reason, actorId] of expectations) {
      const found = failedFor(email, reason);
      expect(found, `${email} ${reason}`).toHaveLength(1);
      expect(found[0]).toMatchObject({
        outcome: 'failure',
        severity: 'MEDIUM',
        actorId,
        actorType: actorId ? 'user' : 'anonymous',
        ip: '127.0.0.1',
        details: { email, reason },
      });
    }
    const success = rows.filter((r) => r.action === 'auth.login' && r.actorId === good.id);
    expect(success).toHaveLength(1);
    expect(success[0]).toMatchObject({ outcome: 'success', resourceType: 'session', resourceId: sessionId, severity: 'LOW' });
  });

  it('writes no password to the audit log or the server log', async () => {
    const user = await seedUser(server, 'trader');
    const wrong = `${user.password}-Wr0ng-${randomUUID()}`;
    const unknownPw = `unknown-${randomUUID()}-Secret`;
    const anon = httpClient(server);
    await rejectionOf(anon.auth.login.mutate({ email: user.email, password: wrong }));
    await rejectionOf(anon.auth.login.mutate({ email: `ghost-${randomUUID()}@desk.example`, password: unknownPw }));
    await anon.auth.login.mutate({ email: user.email, password: user.password });

    const rows = await auditRows(server);
    const audit = JSON.stringify(rows);
    // The check can see what it looks for: the attempts are there, by email.
    expect(audit).toContain(user.email);
    for (const secret of [user.password, wrong, unknownPw]) {
      expect(audit).not.toContain(secret);
      expect(server.logs.join('\n')).not.toContain(secret);
    }
    expect(audit).not.toContain((await userRow(server, user.id)).passwordHash);
  });
});

describe('batched calls', () => {
  function countingClient(headers: Record<string, string>) {
    const requests: string[] = [];
    const client = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: server.trpcUrl,
          headers: () => headers,
          fetch: async (input, init) => {
            requests.push(String(input));
            return fetch(input as string, init as RequestInit);
          },
        }),
      ],
    });
    return { client, requests };
  }

  it('gives each query in one batch its own authorization result', async () => {
    const trader = await seedUser(server, 'trader');
    const { accessToken } = await loginForBody(server, trader);
    const { client, requests } = countingClient({ authorization: `Bearer ${accessToken}` });
    const [me, sessionsList, usersList] = await Promise.allSettled([
      client.auth.me.query(),
      client.sessions.list.query(),
      client.users.list.query(),
    ]);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toContain('auth.me,sessions.list,users.list');
    expect(me.status === 'fulfilled' && me.value.user.id).toBe(trader.id);
    expect(sessionsList.status === 'fulfilled' && sessionsList.value.length).toBe(1);
    expect(usersList.status).toBe('rejected');
    const denied = errorData((usersList as PromiseRejectedResult).reason);
    expect(denied).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'MISSING_PERMISSION', permission: 'users.manage' });
  });

  it('gives each mutation in one anonymous batch its own result', async () => {
    const [a, b] = await Promise.all([seedUser(server, 'trader'), seedUser(server, 'viewer')]);
    const c = await loginForBody(server, await seedUser(server, 'trader'));
    const { client, requests } = countingClient({});
    const [okLogin, badLogin, refreshed, logout] = await Promise.allSettled([
      client.auth.login.mutate({ email: a.email, password: a.password, refreshTokenDelivery: 'body' }),
      client.auth.login.mutate({ email: b.email, password: `${b.password}x` }),
      client.auth.refresh.mutate({ refreshToken: c.refreshToken }),
      client.auth.logout.mutate(),
    ]);
    expect(requests).toHaveLength(1);
    expect(okLogin.status === 'fulfilled' && okLogin.value.user.id).toBe(a.id);
    expect(badLogin.status).toBe('rejected');
    expect((badLogin as PromiseRejectedResult).reason.message).toBe(INVALID);
    expect(refreshed.status === 'fulfilled' && decodeJwt(refreshed.value.accessToken).payload.sid).toBe(c.sessionId);
    expect(logout.status).toBe('rejected');
    expect(errorData((logout as PromiseRejectedResult).reason).code).toBe('UNAUTHORIZED');
  });

  it('answers a raw mixed batch with one result per call (HTTP 207)', async () => {
    const trader = await seedUser(server, 'trader');
    const { accessToken } = await loginForBody(server, trader);
    const res = await fetch(`${server.trpcUrl}/auth.me,users.list,sessions.list?batch=1&input=${encodeURIComponent('{}')}`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(res.status).toBe(207);
    const body = (await res.json()) as { result?: { data: unknown }; error?: { data: { code: string } } }[];
    expect(body).toHaveLength(3);
    expect(body[0]?.result?.data).toMatchObject({ user: { id: trader.id } });
    expect(body[1]?.error?.data.code).toBe('FORBIDDEN');
    expect(Array.isArray(body[2]?.result?.data)).toBe(true);
  });
});
