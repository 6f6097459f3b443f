/**
 * Single GET queries are answered without tRPC's fetch adaptation (trpc-query-fast-path.ts). The
 * same server still hands a request carrying `trpc-accept` to tRPC's own handler, so each call is
 * made both ways here and the answers compared: status, JSON body and headers, for successes and
 * for every kind of refusal. Whatever the fast path does not take goes to tRPC unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, type SignedIn } from './support/users.ts';

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /** tRPC's handler streams its answer; the fast path sends it whole. */
  chunked: boolean;
}

// Differ between two calls whatever path they take: the clock, and the budget the first call spent.
const VARYING = new Set(['date', 'ratelimit', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);

async function get(server: TestServer, target: string, headers: Record<string, string>, via: 'fast' | 'trpc'): Promise<Answer> {
  const res = await fetch(`${server.url}${target}`, {
    headers: { 'x-request-id': 'fast-path-test', ...headers, ...(via === 'trpc' ? { 'trpc-accept': 'application/json' } : {}) },
  });
  const text = await res.text();
  const kept = Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));
  return { status: res.status, body: JSON.parse(text), headers: kept, chunked: res.headers.get('transfer-encoding') === 'chunked' };
}

const input = (value: unknown) => `?input=${encodeURIComponent(JSON.stringify(value))}`;

describe('single GET queries', () => {
  let server: TestServer;
  let admin: SignedIn;
  let viewer: SignedIn;
  let apiKey: string;

  beforeAll(async () => {
    server = await startTestServer();
    admin = await signIn(server, await seedUser(server, 'admin'));
    viewer = await signIn(server, await seedUser(server, 'viewer'));
    ({ key: apiKey } = await admin.client.apiKeys.create.mutate({ name: 'fast path', permissions: ['trading.view'] }));
  });
  afterAll(async () => {
    await server?.close();
  });

  const bearer = (who: () => SignedIn) => () => ({ authorization: `Bearer ${who().token}` });
  const cases: { name: string; target: string; headers: () => Record<string, string>; status: number; fast: boolean }[] = [
    { name: 'an authenticated query', target: '/trpc/market.lastPrices', headers: bearer(() => viewer), status: 200, fast: true },
    { name: 'a query with input', target: `/trpc/users.list${input({ limit: 5 })}`, headers: bearer(() => admin), status: 200, fast: true },
    { name: 'an API key', target: '/trpc/market.lastPrices', headers: () => ({ 'x-api-key': apiKey }), status: 200, fast: true },
    { name: 'no credentials', target: '/trpc/market.lastPrices', headers: () => ({}), status: 401, fast: true },
    { name: 'a forged token', target: '/trpc/market.lastPrices', headers: () => ({ authorization: 'Bearer not.a.token' }), status: 401, fast: true },
    { name: 'a revoked-looking key', target: '/trpc/market.lastPrices', headers: () => ({ 'x-api-key': `${apiKey}x` }), status: 401, fast: true },
    { name: 'a missing permission', target: '/trpc/users.list', headers: bearer(() => viewer), status: 403, fast: true },
    { name: 'input the schema refuses', target: `/trpc/users.list${input({ limit: -1, extra: true })}`, headers: bearer(() => admin), status: 400, fast: true },
    { name: 'input that is not JSON', target: '/trpc/users.list?input=%7Bnope', headers: bearer(() => admin), status: 400, fast: false },
    { name: 'an unknown procedure', target: '/trpc/market.nothing', headers: bearer(() => viewer), status: 404, fast: false },
    { name: 'an inherited property name', target: '/trpc/constructor', headers: bearer(() => viewer), status: 404, fast: false },
    { name: 'a mutation by GET', target: '/trpc/auth.logout', headers: bearer(() => viewer), status: 405, fast: false },
    { name: 'another parameter', target: `/trpc/market.lastPrices${input({})}&batch=0`, headers: bearer(() => viewer), status: 200, fast: false },
    { name: 'a batch', target: `/trpc/market.lastPrices,market.lastPrices?batch=1&input=${encodeURIComponent('{}')}`, headers: bearer(() => viewer), status: 200, fast: false },
  ];

  for (const c of cases) {
    it(`answers ${c.name} exactly as tRPC's handler does (${c.status}${c.fast ? '' : ', left to tRPC'})`, async () => {
      const fast = await get(server, c.target, c.headers(), 'fast');
      const trpc = await get(server, c.target, c.headers(), 'trpc');
      expect(trpc.chunked).toBe(true);
      expect(fast.chunked).toBe(!c.fast);
      expect(fast.status).toBe(c.status);
      expect(fast.status).toBe(trpc.status);
      expect(fast.body).toEqual(trpc.body);
      expect(fast.headers).toEqual(trpc.headers);
      // The secured response either way: helmet's headers and, once a procedure runs, the rate limit.
      expect(fast.headers['content-security-policy']).toBeDefined();
      expect(fast.headers['x-content-type-options']).toBe('nosniff');
      if (c.status !== 404 && c.status !== 405) expect(fast.headers['ratelimit-policy']).toBeDefined();
      expect(JSON.stringify(fast.body)).not.toMatch(/stack|at \w+ \(/);
    });
  }

  it('refuses past the budget with 429 and Retry-After, as every other call is', async () => {
    const limited = await startTestServer({ rateLimits: { api: { points: 3, durationSeconds: 60 } } });
    try {
      const who = await signIn(limited, await seedUser(limited, 'viewer'));
      const answers: Answer[] = [];
      for (let i = 0; i < 5; i++) answers.push(await get(limited, '/trpc/market.lastPrices', { authorization: `Bearer ${who.token}` }, 'fast'));
      // Sign-in spent from the IP's budget, not the user's: the user's first three pass.
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
      const refused = answers[3]!;
      expect(refused.chunked).toBe(false);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.body).toMatchObject({ error: { data: { code: 'TOO_MANY_REQUESTS', reason: 'RATE_LIMITED', policy: 'api' } } });
    } finally {
      await limited.close();
    }
  });

  it('answers many parallel calls, each with its own result and rate-limit state', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => get(server, '/trpc/market.lastPrices', { authorization: `Bearer ${viewer.token}` }, 'fast')),
    );
    expect(answers.every((a) => a.status === 200 && !a.chunked)).toBe(true);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
  });
});
