/**
 * Rate limiting in memory on one server: the RateLimit headers, 429 with an honest Retry-After and
 * the limit in the error data, the login policy (failures only), the per-API-key limit, the
 * limitFactor hook, exact admission under 50 parallel calls, and coalesced denial audits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { keyClient } from './support/api-keys.ts';
import { auditRows, rawCall, type RawResult } from './support/probe.ts';
import { loginFrom, meBurst, parseRateLimit, parseRateLimitPolicy, statuses, uniqueIp } from './support/rate-limits.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { sleep } from './support/session-helpers.ts';
import { seedUser, type SeededUser } from './support/users.ts';

const MINUTE = 60_000;
const RELAXED = {
  // The account lockout and IP throttle have their own tests; here they must not get in the way.
  accountLockout: { maxFailures: 100, windowMs: 15 * MINUTE, lockMs: 15 * MINUTE },
  ipThrottle: { maxFailures: 100, windowMs: 15 * MINUTE, blockMs: 15 * MINUTE },
};

function expectRateLimited(res: RawResult, policy: string, limit: number) {
  expect(res.status).toBe(429);
  expect(res.error?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'RATE_LIMITED', policy, limit, remaining: 0 });
  const data = res.error?.data as { resetMs: number; retryAfterMs: number };
  expect(data.retryAfterMs).toBeGreaterThan(0);
  expect(data.resetMs).toBe(data.retryAfterMs);
  expect(res.headers.get('retry-after')).toBe(String(Math.ceil(data.retryAfterMs / 1000)));
  expect(parseRateLimit(res.headers.get('ratelimit'))).toMatchObject({ policy, r: 0 });
  expect(parseRateLimitPolicy(res.headers.get('ratelimit-policy'))).toMatchObject({ policy, q: limit });
  return data;
}

describe('with the shipped policies', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true, security: RELAXED });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('sends RateLimit-Policy and RateLimit headers: 1000 per 15 min per principal, per IP when anonymous', async () => {
    const user = await seedUser(server, 'trader');
    const token = await loginFrom(server, user, uniqueIp());
    const first = await rawCall(server, 'auth.me', 'query', { token });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"api";q=1000;w=900');
    expect(first.headers.get('ratelimit')).toBe('"api";r=999;t=900');
    const second = await rawCall(server, 'auth.me', 'query', { token });
    expect(parseRateLimit(second.headers.get('ratelimit'))).toMatchObject({ policy: 'api', r: 998 });
    expect(parseRateLimit(second.headers.get('ratelimit'))?.t).toBeLessThanOrEqual(900);
    expect(second.headers.get('retry-after')).toBeNull();

    // Anonymous calls spend their IP's budget, not the user's, and carry the headers even on 401.
    const ip = uniqueIp();
    const anon = await rawCall(server, 'auth.refresh', 'mutation', { headers: { 'x-forwarded-for': ip } });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('ratelimit-policy')).toBe('"api";q=1000;w=900');
    expect(anon.headers.get('ratelimit')).toBe('"api";r=999;t=900');
    // The same user from another IP: still one budget, per principal.
    const third = await rawCall(server, 'auth.me', 'query', { token, headers: { 'x-forwarded-for': uniqueIp() } });
    expect(parseRateLimit(third.headers.get('ratelimit'))?.r).toBe(997);
  });

  it('allows 5 failed sign-ins per IP + email in 15 min; successes give their point back', async () => {
    const user = await seedUser(server, 'trader');
    const ip = uniqueIp();
    const from = (addr: string) => httpClient(server, { headers: { 'x-forwarded-for': addr } });
    const fail = async (n: number) => {
      const data = errorData(await rejectionOf(from(ip).auth.login.mutate({ email: user.email, password: `wrong-password-${n}-xyz` })));
      expect(data, `failure ${n}`).toMatchObject({ code: 'UNAUTHORIZED', reason: 'INVALID_CREDENTIALS' });
    };
    for (let n = 1; n <= 4; n += 1) await fail(n);
    await expect(from(ip).auth.login.mutate({ email: user.email, password: user.password })).resolves.toMatchObject({ user: { id: user.id } });
    // Had the success counted, this fifth failure would be refused.
    await fail(5);

    // The sixth attempt is refused before the password is even looked at: the right one too.
    const refused = await rawCall(server, 'auth.login', 'mutation', {
      input: { email: user.email, password: user.password },
      headers: { 'x-forwarded-for': ip },
    });
    const data = expectRateLimited(refused, 'login', 5);
    expect(data.retryAfterMs).toBeGreaterThan(15 * MINUTE - 60_000);
    expect(data.retryAfterMs).toBeLessThanOrEqual(15 * MINUTE);
    expect(refused.headers.get('ratelimit-policy')).toBe('"api";q=1000;w=900, "login";q=5;w=900');
    // Upper/lower case of the email is the same budget.
    const upper = await rawCall(server, 'auth.login', 'mutation', {
      input: { email: user.email.toUpperCase(), password: user.password },
      headers: { 'x-forwarded-for': ip },
    });
    expect(upper.status).toBe(429);

    // Per IP + email: the same account from another IP, and another account from this IP, are fine.
    await expect(from(uniqueIp()).auth.login.mutate({ email: user.email, password: user.password })).resolves.toBeTruthy();
    const other = await seedUser(server, 'viewer');
    await expect(from(ip).auth.login.mutate({ email: other.email, password: other.password })).resolves.toBeTruthy();

    const audit = await auditRows(server, (r) => r.action === 'ratelimit.denied' && r.resourceId === 'login' && r.ip === ip);
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details).toMatchObject({ policy: 'login', count: 1, summary: false });
  });

  it('lets successful sign-ins through without limit', async () => {
    const user = await seedUser(server, 'viewer');
    const ip = uniqueIp();
    for (let i = 0; i < 8; i += 1) await loginFrom(server, user, ip);
    const res = await rawCall(server, 'auth.login', 'mutation', { input: { email: user.email, password: user.password }, headers: { 'x-forwarded-for': ip } });
    expect(res.status).toBe(200);
  });

  it("enforces a key's own per-minute limit, separately from its owner and other keys", async () => {
    const user = await seedUser(server, 'trader');
    const token = await loginFrom(server, user, uniqueIp());
    const owner = httpClient(server, { token });
    const limited = await owner.apiKeys.create.mutate({ name: 'limited', permissions: ['apikeys.manage'], rateLimit: 3 });
    const free = await owner.apiKeys.create.mutate({ name: 'free', permissions: ['apikeys.manage'] });

    const headers = { 'x-api-key': limited.key };
    for (let i = 1; i <= 3; i += 1) {
      const ok = await rawCall(server, 'apiKeys.list', 'query', { headers });
      expect(ok.status, `call ${i}`).toBe(200);
      expect(ok.headers.get('ratelimit-policy')).toBe('"api";q=1000;w=900, "apikey";q=3;w=60');
      expect(parseRateLimit(ok.headers.get('ratelimit'), 'apikey')).toMatchObject({ policy: 'apikey', r: 3 - i });
    }
    const refused = await rawCall(server, 'apiKeys.list', 'query', { headers });
    const data = expectRateLimited(refused, 'apikey', 3);
    expect(data.retryAfterMs).toBeGreaterThan(50_000);
    expect(data.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(51);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);

    // The owner and the owner's other key are not held back.
    await expect(keyClient(server, free.key).apiKeys.list.query()).resolves.toHaveLength(2);
    await expect(owner.apiKeys.list.query()).resolves.toHaveLength(2);
    const denied = await auditRows(server, (r) => r.action === 'ratelimit.denied' && r.actorId === limited.apiKey.id);
    expect(denied).toHaveLength(1);
    expect(denied[0]?.details).toMatchObject({ policy: 'apikey', limitedBy: `k:${limited.apiKey.id}` });
  });
});

describe('with a tight api limit (10 per minute)', () => {
  let server: TestServer;
  const FLAGGED = '203.0.113.9';
  beforeAll(async () => {
    server = await startTestServer({
      trustProxy: true,
      security: RELAXED,
      rateLimits: { api: { points: 10, durationSeconds: 60 } },
      limitFactor: (ip) => (ip === FLAGGED ? 0.5 : 1),
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function fresh(): Promise<{ user: SeededUser; token: string }> {
    const user = await seedUser(server, 'trader');
    return { user, token: await loginFrom(server, user, uniqueIp()) };
  }

  it('answers 429 over the limit, with Retry-After the rest of the window (checked against real time)', async () => {
    const { token } = await fresh();
    const beforeFirst = Date.now();
    const first = await rawCall(server, 'auth.me', 'query', { token });
    const afterFirst = Date.now();
    expect(first.headers.get('ratelimit')).toBe('"api";r=9;t=60');
    for (let i = 2; i <= 10; i += 1) expect((await rawCall(server, 'auth.me', 'query', { token })).status, `call ${i}`).toBe(200);
    await sleep(1_500);

    const beforeRefused = Date.now();
    const refused = await rawCall(server, 'auth.me', 'query', { token });
    const afterRefused = Date.now();
    const data = expectRateLimited(refused, 'api', 10);
    // The window opened with the first call: what is left of it is what the caller must wait.
    expect(data.retryAfterMs).toBeGreaterThanOrEqual(MINUTE - (afterRefused - beforeFirst) - 50);
    expect(data.retryAfterMs).toBeLessThanOrEqual(MINUTE - (beforeRefused - afterFirst) + 50);
    expect(data.retryAfterMs).toBeLessThan(MINUTE - 1_400);
    expect(Number(refused.headers.get('retry-after'))).toBe(Math.ceil(data.retryAfterMs / 1000));
    expect(refused.error?.message).toMatch(/rate limit/i);

    // Someone else is not held back.
    const other = await fresh();
    expect((await rawCall(server, 'auth.me', 'query', { token: other.token })).status).toBe(200);
  });

  it('admits exactly 10 of 50 parallel calls', async () => {
    const { token } = await fresh();
    const results = await meBurst([server], token, 50);
    expect(statuses(results)).toEqual({ 200: 10, 429: 40 });
    // Each admitted call took its own point: remaining 9, 8, ... 0, no two the same.
    const remaining = results.filter((r) => r.status === 200).map((r) => parseRateLimit(r.headers.get('ratelimit'))?.r);
    expect(remaining.sort((a, b) => (a as number) - (b as number))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of results.filter((x) => x.status === 429)) expect(r.error?.data).toMatchObject({ policy: 'api', limit: 10, remaining: 0 });
    expect((await rawCall(server, 'auth.me', 'query', { token })).status).toBe(429);
  });

  it('audits a flood of denials as one row at once and one summary row, not one per denial', async () => {
    const { user, token } = await fresh();
    for (let i = 0; i < 10; i += 1) expect((await rawCall(server, 'auth.me', 'query', { token })).status).toBe(200);
    const flood = await meBurst([server], token, 50);
    expect(statuses(flood)).toEqual({ 429: 50 });

    const rows = () => auditRows(server, (r) => r.action === 'ratelimit.denied' && r.actorId === user.id);
    expect(await rows()).toHaveLength(1);
    await sleep(300);
    const [first] = await rows();
    expect(first).toMatchObject({ outcome: 'denied', actorType: 'user', resourceType: 'ratelimit', resourceId: 'api' });
    expect(first?.details).toMatchObject({ policy: 'api', limitedBy: `u:${user.id}`, count: 1, summary: false });

    // The rest of the window is written as one summary when it closes (here: flushed now).
    await server.app.deps.rateLimits.denials.flush();
    const after = await rows();
    expect(after).toHaveLength(2);
    expect(after[1]?.details).toMatchObject({ policy: 'api', count: 49, summary: true });
    expect(after.reduce((n, r) => n + Number((r.details as { count: number }).count), 0)).toBe(50);
  });

  it('counts calls that fail to authenticate against the IP, so keys and tokens cannot be guessed without limit', async () => {
    const ip = uniqueIp();
    const headers = { 'x-forwarded-for': ip };
    const guesses = [];
    for (let i = 0; i < 12; i += 1) {
      const guess = `tvk_${'g'.repeat(9)}${i % 10}_${'A'.repeat(42)}${i % 10}`;
      guesses.push(await rawCall(server, 'apiKeys.list', 'query', { headers: { ...headers, 'x-api-key': guess } }));
    }
    expect(guesses.map((r) => r.status)).toEqual([...Array(10).fill(401), 429, 429]);
    expect(guesses[0]?.error?.data?.reason).toBe('API_KEY_UNKNOWN');
    expectRateLimited(guesses[10] as RawResult, 'api', 10);
    // Refused guesses are not audited one by one once the IP is over its budget.
    const failures = await auditRows(server, (r) => r.action === 'apikey.auth_failed' && r.ip === ip);
    expect(failures).toHaveLength(10);

    // No credentials, or a bad token, on a protected procedure: the same IP budget.
    const other = uniqueIp();
    const calls = [];
    for (let i = 0; i < 11; i += 1) {
      calls.push(await rawCall(server, 'auth.me', 'query', { token: i % 2 ? 'not-a-jwt' : null, headers: { 'x-forwarded-for': other } }));
    }
    expect(calls.map((r) => r.status)).toEqual([...Array(10).fill(401), 429]);
    // A signed-in user at that IP has a budget of their own.
    const { token } = await fresh();
    expect((await rawCall(server, 'auth.me', 'query', { token, headers: { 'x-forwarded-for': other } })).status).toBe(200);
  });

  it('halves the limits for an IP the limitFactor hook flags', async () => {
    // Anonymous: the IP's own budget.
    const flaggedAnon = await Promise.all(Array.from({ length: 8 }, () => rawCall(server, 'auth.refresh', 'mutation', { headers: { 'x-forwarded-for': FLAGGED } })));
    expect(statuses(flaggedAnon)).toEqual({ 401: 5, 429: 3 });
    const refused = flaggedAnon.find((r) => r.status === 429) as RawResult;
    expectRateLimited(refused, 'api', 5);
    expect(refused.headers.get('ratelimit-policy')).toBe('"api";q=5;w=60');

    const plainIp = uniqueIp();
    const plainAnon = await Promise.all(Array.from({ length: 12 }, () => rawCall(server, 'auth.refresh', 'mutation', { headers: { 'x-forwarded-for': plainIp } })));
    expect(statuses(plainAnon)).toEqual({ 401: 10, 429: 2 });

    // Signed in: the user's budget, halved while the calls come from the flagged IP.
    const { token } = await fresh();
    const flaggedUser = await meBurst([server], token, 8, { 'x-forwarded-for': FLAGGED });
    expect(statuses(flaggedUser)).toEqual({ 200: 5, 429: 3 });
    const other = await fresh();
    expect(statuses(await meBurst([server], other.token, 8, { 'x-forwarded-for': uniqueIp() }))).toEqual({ 200: 8 });
  });
});

describe('with a short window', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true, rateLimits: { api: { points: 3, durationSeconds: 3 } } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is honest about Retry-After: refused until then, admitted right after', async () => {
    const user = await seedUser(server, 'viewer');
    const token = await loginFrom(server, user, uniqueIp());
    for (let i = 0; i < 3; i += 1) expect((await rawCall(server, 'auth.me', 'query', { token })).status).toBe(200);
    const refusedAt = Date.now();
    const refused = await rawCall(server, 'auth.me', 'query', { token });
    const { retryAfterMs } = expectRateLimited(refused, 'api', 3);
    expect(retryAfterMs).toBeLessThanOrEqual(3_000);
    expect(refused.headers.get('retry-after')).toBe(String(Math.ceil(retryAfterMs / 1000)));

    // Well before the time it gave, still refused...
    await sleep(Math.max(0, refusedAt + retryAfterMs - 1_000 - Date.now()));
    expect((await rawCall(server, 'auth.me', 'query', { token })).status).toBe(429);
    // ...and once it has passed, a new window.
    await sleep(Math.max(0, refusedAt + retryAfterMs + 150 - Date.now()));
    const again = await rawCall(server, 'auth.me', 'query', { token });
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit')).toBe('"api";r=2;t=3');
  });
});
