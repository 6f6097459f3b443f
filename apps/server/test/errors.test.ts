import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { auditLogs, loginIpThrottles, sessions, users } from '@tapevision/db';
import { loadConfig } from '../src/index.ts';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { allKeys, auditRows, rawCall, rawGet, userRow } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword, type SeededUser, type SignedIn } from './support/users.ts';

const SPA_MARKER = 'TV-SPA-INDEX-7f3a';
const OUTSIDE_SECRET = 'TOP-SECRET-OUTSIDE-DIST-91c2';

let server: TestServer;
let tmp: string;
let adminUser: SeededUser;
let admin: SignedIn;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tv-errors-'));
  const dist = path.join(tmp, 'dist');
  mkdirSync(path.join(dist, 'assets'), { recursive: true });
  writeFileSync(path.join(dist, 'index.html'), `<!doctype html><html><head><title>${SPA_MARKER}</title></head><body></body></html>`);
  writeFileSync(path.join(dist, 'assets', 'app-3f9c1d.js'), 'console.log("tv app");');
  writeFileSync(path.join(tmp, 'secret.txt'), OUTSIDE_SECRET);
  server = await startTestServer({ webDist: dist });
  adminUser = await seedUser(server, 'admin');
  admin = await signIn(server, adminUser);
});

afterAll(async () => {
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Row counts of every table a request could write, plus the users' content. */
async function snapshot() {
  const db = server.app.deps.db;
  await server.app.deps.audit.flush();
  const userRows = await db.select().from(users);
  return {
    users: userRows.map((u) => ({ ...u, lastLoginAt: null })).sort((a, b) => a.id.localeCompare(b.id)),
    sessions: (await db.select().from(sessions)).length,
    audit: (await db.select().from(auditLogs)).length,
    throttles: await db.select().from(loginIpThrottles),
  };
}

describe('bad input', () => {
  it('gets BAD_REQUEST with data.issues by field, and changes nothing', async () => {
    const target = await seedUser(server, 'viewer');
    const before = await snapshot();
    const c = admin.client;
    const cases: [string, () => Promise<unknown>, { path: (string | number)[]; message: string | RegExp }[]][] = [
      ['malformed email', () => c.users.create.mutate({ email: 'not-an-email', role: 'viewer' }), [{ path: ['email'], message: 'Enter a valid email address' }]],
      [
        'unknown role',
        () => c.users.create.mutate({ email: 'role@desk.example', role: 'root' as 'viewer' }),
        [{ path: ['role'], message: /Invalid option/ }],
      ],
      [
        'unknown key (strict object)',
        () => c.users.create.mutate({ email: 'strict@desk.example', role: 'viewer', isAdmin: true } as never),
        [{ path: [], message: 'Unrecognized key: "isAdmin"' }],
      ],
      [
        'unknown key on update',
        () => c.users.update.mutate({ id: target.id, role: 'admin', passwordHash: 'x' } as never),
        [{ path: [], message: 'Unrecognized key: "passwordHash"' }],
      ],
      ['id not a uuid', () => c.users.update.mutate({ id: 'users-1', role: 'admin' }), [{ path: ['id'], message: /UUID/i }]],
      ['limit too large', () => c.users.list.query({ limit: 1_000 }), [{ path: ['limit'], message: /200/ }]],
      ['oversize search', () => c.users.list.query({ search: 'x'.repeat(101) }), [{ path: ['search'], message: /100/ }]],
      ['oversize email', () => c.users.create.mutate({ email: `${'a'.repeat(300)}@desk.example`, role: 'viewer' }), [{ path: ['email'], message: /254/ }]],
      ['oversize cursor', () => c.users.list.query({ cursor: 'c'.repeat(255) }), [{ path: ['cursor'], message: /254/ }]],
      ['wrong type', () => c.users.unlock.mutate({ id: 42 } as never), [{ path: ['id'], message: /expected string/ }]],
      [
        'unknown key on login',
        () => httpClient(server).auth.login.mutate({ email: target.email, password: target.password, remember: true } as never),
        [{ path: [], message: 'Unrecognized key: "remember"' }],
      ],
      ['oversize login email', () => httpClient(server).auth.login.mutate({ email: `${'e'.repeat(255)}`, password: 'whatever-1' }), [{ path: ['email'], message: /254/ }]],
      ['oversize login password', () => httpClient(server).auth.login.mutate({ email: target.email, password: 'p'.repeat(1025) }), [{ path: ['password'], message: /1024/ }]],
      [
        'oversize new password',
        () => admin.client.auth.changePassword.mutate({ currentPassword: adminUser.password, newPassword: 'n'.repeat(5_000) }),
        [{ path: ['newPassword'], message: 'Use at most 256 characters' }],
      ],
    ];
    for (const [label, call, expected] of cases) {
      const err = await rejectionOf(call());
      const data = errorData(err);
      expect(data.code, label).toBe('BAD_REQUEST');
      expect(data.httpStatus, label).toBe(400);
      const issues = data.issues as { path: unknown[]; message: string }[];
      expect(Array.isArray(issues), label).toBe(true);
      for (const want of expected) {
        expect(
          issues.some((i) => JSON.stringify(i.path) === JSON.stringify(want.path) && (typeof want.message === 'string' ? i.message === want.message : want.message.test(i.message))),
          `${label}: ${JSON.stringify(issues)}`,
        ).toBe(true);
      }
      for (const issue of issues) expect(Object.keys(issue).sort(), label).toEqual(['message', 'path']);
      expect(err.message, label).toMatch(/^Invalid input: /);
    }
    expect(await snapshot()).toEqual(before);
    expect(await userRow(server, target.id)).toMatchObject({ role: 'viewer' });
  });

  it('reports many problems at once, each on its own path', async () => {
    const err = await rejectionOf(admin.client.users.create.mutate({ email: 'nope', role: 'nobody' as 'viewer', password: 'short' }));
    const paths = (errorData(err).issues as { path: string[] }[]).map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['email', 'role', 'password']));
  });
});

describe('error responses', () => {
  function expectClean(text: string, label: string) {
    let json: unknown;
    expect(() => (json = JSON.parse(text)), label).not.toThrow();
    expect(allKeys(json), label).not.toContain('stack');
    expect(text, label).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+|file:\/\//);
    expect(text, label).not.toMatch(/\b(select|insert into|update "|delete from)\b/i);
    expect(text, label).not.toMatch(/password_hash|\$argon2/);
  }

  it('never carry a stack, SQL or internals, whatever failed', async () => {
    const token = admin.token;
    const failing = [
      await rawCall(server, 'users.create', 'mutation', { token, input: { email: 'x', role: 'viewer', extra: 1 } }),
      await rawCall(server, 'users.list', 'query', { input: { limit: 1 } }),
      await rawCall(server, 'auth.login', 'mutation', { input: { email: 'nobody@desk.example', password: 'not-the-password-1' } }),
      await rawCall(server, 'users.sessions', 'query', { token, input: { id: '00000000-0000-4000-8000-00000000000a' } }),
      await rawCall(server, 'no.such.procedure', 'query', { token }),
      await rawCall(server, 'auth.login', 'query', { input: { email: 'a', password: 'b' } }),
    ];
    const malformed = await fetch(`${server.trpcUrl}/auth.login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email": ' });
    const malformedQuery = await fetch(`${server.trpcUrl}/users.list?input=%7Bbroken`, { headers: { authorization: `Bearer ${token}` } });
    const batch = await fetch(`${server.trpcUrl}/users.list,users.sessions?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { limit: 0 }, 1: { id: 'nope' } }))}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const texts: [string, number, string][] = [
      ...failing.map((r, i) => [`call ${i}`, r.status, r.text] as [string, number, string]),
      ['malformed body', malformed.status, await malformed.text()],
      ['malformed query', malformedQuery.status, await malformedQuery.text()],
      ['batch', batch.status, await batch.text()],
    ];
    for (const [label, status, text] of texts) {
      expect(status, label).toBeGreaterThanOrEqual(400);
      expectClean(text, label);
    }
    expect(failing.map((r) => r.status)).toEqual([400, 401, 401, 404, 404, 405]);
  });

  it('say only "Internal server error" for an internal failure; the log has the detail', async () => {
    const db = server.app.deps.db;
    await db.execute(`create or replace function tv_test_boom() returns trigger language plpgsql as $$
      begin raise exception 'LEAKMARKER select password_hash from users where secret = %', 'hunter2'; end $$`);
    await db.execute('create trigger tv_test_boom before insert on sessions for each row execute function tv_test_boom()');
    try {
      const viewer = await seedUser(server, 'viewer');
      const res = await rawCall(server, 'auth.login', 'mutation', { input: { email: viewer.email, password: viewer.password } });
      expect(res.status).toBe(500);
      expect(res.error).toEqual({
        code: -32603,
        message: 'Internal server error',
        data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, path: 'auth.login' },
      });
      expectClean(res.text, 'internal');
      expect(res.text).not.toContain('LEAKMARKER');
      expect(res.text).not.toContain('hunter2');
      expect(res.text).not.toContain(viewer.password);
      // Not swallowed: the server log has it, without the password.
      const logged = server.logs.filter((l) => l.includes('LEAKMARKER'));
      expect(logged.length).toBeGreaterThan(0);
      for (const line of logged) expect(line).not.toContain(viewer.password);
    } finally {
      await db.execute('drop trigger if exists tv_test_boom on sessions');
      await db.execute('drop function if exists tv_test_boom()');
    }
    await expect(signIn(server, await seedUser(server, 'viewer'))).resolves.toBeTruthy();
  });

  it('refuse a body over the size limit with 413, without touching anything', async () => {
    // startTestServer keeps the configured default (MAX_BODY_BYTES unset).
    const limit = loadConfig({}).maxBodyBytes;
    expect(limit).toBe(256 * 1024);
    const before = await snapshot();
    const huge = JSON.stringify({ email: 'big@desk.example', password: 'x'.repeat(limit + 1024) });
    const res = await fetch(`${server.trpcUrl}/auth.login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge });
    expect(res.status).toBe(413);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ error: { data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 } } });
    expect(allKeys(JSON.parse(text))).not.toContain('stack');

    // Just under the limit, the same call is parsed and refused by the schema instead.
    const under = JSON.stringify({ email: 'big@desk.example', password: 'x'.repeat(limit - 1024) });
    const ok = await fetch(`${server.trpcUrl}/auth.login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: under });
    expect(ok.status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });

  it('close a WebSocket that sends a message over the size limit', async () => {
    const socket = new WebSocket(server.wsUrl);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'auth.me', input: 'x'.repeat(70 * 1024) } }));
    expect(await closed).toBe(1009);
  });
});

describe('HTTP surface', () => {
  function expectSecurityHeaders(headers: Headers, label: string) {
    const csp = headers.get('content-security-policy') ?? '';
    expect(csp, label).toContain("default-src 'self'");
    expect(csp, label).toContain("connect-src 'self'");
    expect(csp, label).toContain("object-src 'none'");
    expect(csp, label).toContain("frame-ancestors 'self'");
    expect(csp, label).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp, label).not.toContain('upgrade-insecure-requests');
    expect(headers.get('x-content-type-options'), label).toBe('nosniff');
    expect(headers.get('x-frame-options'), label).toBe('SAMEORIGIN');
    expect(headers.get('referrer-policy'), label).toBe('no-referrer');
    expect(headers.get('strict-transport-security'), label).toMatch(/max-age=\d+/);
    expect(headers.get('x-powered-by'), label).toBeNull();
  }

  it('sends helmet security headers on the app, the API (even on errors) and the probes', async () => {
    for (const url of [`${server.url}/`, `${server.url}/some/route`, `${server.trpcUrl}/auth.me`, `${server.trpcUrl}/users.list?input=%7B%7D`, `${server.url}/healthz`]) {
      const res = await fetch(url, url.includes('users.list') ? { headers: { authorization: `Bearer ${admin.token}` } } : {});
      await res.arrayBuffer();
      expectSecurityHeaders(res.headers, url);
    }
  });

  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('cache-control')).toBe('no-store');
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite' });
  });

  it('serves the SPA: files from the dist, index.html for unknown routes', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain(SPA_MARKER);

    for (const route of ['/login', '/users/123/sessions', '/settings?tab=security', '/no-such-file.png']) {
      const res = await fetch(`${server.url}${route}`);
      expect(res.status, route).toBe(200);
      expect(await res.text(), route).toContain(SPA_MARKER);
      expect(res.headers.get('cache-control'), route).toBe('no-cache');
    }

    const asset = await fetch(`${server.url}/assets/app-3f9c1d.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toBe('console.log("tv app");');

    const post = await fetch(`${server.url}/login`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
  });

  it('never serves anything outside the dist folder, however the path is spelled', async () => {
    const attempts = [
      '/..%2f..%2fetc/passwd',
      '/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%5csecret.txt',
      '/..%252fsecret.txt',
      '/....//secret.txt',
      `/${'..%2f'.repeat(3)}${encodeURIComponent(path.join(tmp, 'secret.txt').slice(1))}`,
      `/%2f${encodeURIComponent(path.join(tmp, 'secret.txt').slice(1))}`,
      '/%00',
      '/%E0%A4%A',
    ];
    for (const attempt of attempts) {
      const res = await rawGet(server, attempt);
      expect([200, 400, 404], attempt).toContain(res.status);
      expect(res.body, attempt).not.toContain(OUTSIDE_SECRET);
      expect(res.body, attempt).not.toMatch(/root:.*:0:0:/);
      if (res.status === 200) expect(res.body, attempt).toContain(SPA_MARKER);
    }
  });
});

describe('secrets stay out of the audit log and the server log', () => {
  it('after sign-in, refresh, a failed sign-in, a password change and a one-time password', async () => {
    const user = await seedUser(server, 'trader');
    const anon = httpClient(server);
    const wrongPassword = `wrong-${strongPassword()}`;
    await rejectionOf(anon.auth.login.mutate({ email: user.email, password: wrongPassword }));
    const login = await anon.auth.login.mutate({ email: user.email, password: user.password, refreshTokenDelivery: 'body' });
    if (!('refreshToken' in login)) throw new Error('asked for the refresh token in the body');
    const refreshed = await anon.auth.refresh.mutate({ refreshToken: login.refreshToken });
    if (!('refreshToken' in refreshed)) throw new Error('a body refresh answers in the body');
    const authed = httpClient(server, { token: refreshed.accessToken });
    const newPassword = strongPassword();
    // A bad current password is audited too.
    await rejectionOf(authed.auth.changePassword.mutate({ currentPassword: wrongPassword, newPassword }));
    await authed.auth.changePassword.mutate({ currentPassword: user.password, newPassword });
    const created = await admin.client.users.create.mutate({ email: `otp-${Date.now()}@desk.example`, role: 'viewer' });
    const reset = await admin.client.users.resetPassword.mutate({ id: created.user.id });
    // A sign-in whose "password" is a token.
    await rejectionOf(anon.auth.login.mutate({ email: user.email, password: login.accessToken }));

    const secrets: Record<string, string> = {
      password: user.password,
      wrongPassword,
      newPassword,
      accessToken: login.accessToken,
      refreshedAccessToken: refreshed.accessToken,
      refreshToken: login.refreshToken,
      rotatedRefreshToken: refreshed.refreshToken,
      oneTimePassword: created.oneTimePassword ?? '',
      resetPassword: reset.oneTimePassword,
    };
    for (const [name, value] of Object.entries(secrets)) expect(value.length, name).toBeGreaterThan(10);

    const audit = await auditRows(server);
    const mine = audit.filter((r) => r.actorId === user.id || r.resourceId === user.id || r.details.email === user.email);
    expect(mine.map((r) => r.action)).toEqual(
      expect.arrayContaining(['auth.login_failed', 'auth.login', 'auth.refresh', 'auth.password_change_failed', 'auth.password_changed']),
    );
    const auditText = JSON.stringify(audit);
    const logText = server.logs.join('\n');
    expect(server.logs.length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(secrets)) {
      expect(auditText.includes(value), `audit contains ${name}`).toBe(false);
      expect(logText.includes(value), `log contains ${name}`).toBe(false);
    }
    expect(auditText).not.toContain('$argon2');
    expect(logText).not.toContain('$argon2');
  });
});
