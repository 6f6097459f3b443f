/**
 * Rate limits shared through Redis: exact admission under 50 parallel calls on one server, and
 * across two server processes on one Redis and one database; and when Redis dies, the API keeps
 * answering and the in-memory insurance limiter keeps the limit on each process.
 *
 * Redis and Postgres are always available (CI starts both): these tests never skip. Limiter keys
 * in the shared Redis outlive a run by their window, so every principal here is fresh (a new user
 * in a new database) and every client IP random: nothing is flushed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawCall } from './support/probe.ts';
import { limiterKey, SHARED_REDIS_URL, startCluster, startPrivateRedis, withRedis, type Cluster, type PrivateRedis } from './support/cluster.ts';
import { loginFrom, meBurst, parseRateLimit, statuses, uniqueIp } from './support/rate-limits.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { decodeJwt, waitFor } from './support/session-helpers.ts';
import { seedUser } from './support/users.ts';

const API = { points: 10, durationSeconds: 60 };

function userIdOf(token: string): string {
  return decodeJwt(token).payload.sub as string;
}

describe('one server, limits in Redis', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ redisUrl: SHARED_REDIS_URL, trustProxy: true, rateLimits: { api: API } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('admits exactly 10 of 50 parallel calls, counted in Redis', async () => {
    expect(server.app.deps.rateLimits.limiter.store).toBe('redis');
    const user = await seedUser(server, 'trader');
    const token = await loginFrom(server, user, uniqueIp());
    expect(userIdOf(token)).toBe(user.id);

    const results = await meBurst([server], token, 50);
    expect(statuses(results)).toEqual({ 200: 10, 429: 40 });
    const remaining = results.filter((r) => r.status === 200).map((r) => parseRateLimit(r.headers.get('ratelimit'))?.r as number);
    expect(remaining.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of results.filter((x) => x.status === 429)) {
      expect(r.error?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', policy: 'api', limit: 10, remaining: 0 });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }

    // The count lives in Redis, not in this process's memory.
    await withRedis(SHARED_REDIS_URL, async (redis) => {
      const key = limiterKey('api', API.points, API.durationSeconds, `u:${user.id}`);
      expect(await redis.get(key)).toBe('50');
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });
  });
});

describe('two server processes sharing Redis and one database', () => {
  let cluster: Cluster;
  /** People created through the API on the second process, each with an untouched budget. */
  const people: { email: string; password: string }[] = [];
  beforeAll(async () => {
    cluster = await startCluster(2, { REDIS_URL: SHARED_REDIS_URL, RATE_LIMIT_API: '10', RATE_LIMIT_API_WINDOW_SECONDS: '60', TRUST_PROXY: '1' });
    const b = cluster.nodes[1] as Cluster['nodes'][number];
    const adminToken = await loginFrom(b, cluster.admin, uniqueIp());
    for (let i = 0; i < 2; i += 1) {
      const email = `shared-${i}-${Date.now().toString(36)}@desk.example`;
      const created = await rawCall(b, 'users.create', 'mutation', { token: adminToken, input: { email, role: 'viewer' } });
      if (created.status !== 200) throw new Error(`users.create failed: ${created.text}`);
      const { oneTimePassword } = (created.json as { result: { data: { oneTimePassword: string } } }).result.data;
      people.push({ email, password: oneTimePassword });
    }
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('admits exactly 10 of 50 parallel calls split across both processes', async () => {
    const [a, b] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]];
    expect(a.port).not.toBe(b.port);
    // Signed in on the first process; the person was created on the second: one database.
    const token = await loginFrom(a, people[0] as { email: string; password: string }, uniqueIp());

    const results = await meBurst([a, b], token, 50);
    expect(statuses(results)).toEqual({ 200: 10, 429: 40 });
    // Every call reached a process that knew the token (401 would mean it did not): the 25 sent
    // to the second process were answered there, admitted or refused against the shared count.
    const fromB = results.filter((_, i) => i % 2 === 1);
    expect(fromB).toHaveLength(25);
    for (const r of fromB) expect([200, 429]).toContain(r.status);
    const remaining = results.filter((r) => r.status === 200).map((r) => parseRateLimit(r.headers.get('ratelimit'))?.r as number);
    expect(remaining.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    await withRedis(SHARED_REDIS_URL, async (redis) => {
      expect(await redis.get(limiterKey('api', 10, 60, `u:${userIdOf(token)}`))).toBe('50');
    });
  });

  it('carries a budget spent on one process over to the other', async () => {
    const [a, b] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]];
    const token = await loginFrom(b, people[1] as { email: string; password: string }, uniqueIp());
    for (let i = 0; i < 6; i += 1) expect((await rawCall(a, 'auth.me', 'query', { token })).status, `call ${i + 1} on A`).toBe(200);
    const onB = [];
    for (let i = 0; i < 6; i += 1) onB.push((await rawCall(b, 'auth.me', 'query', { token })).status);
    expect(onB).toEqual([200, 200, 200, 200, 429, 429]);
  });
});

describe('Redis going away', () => {
  let redis: PrivateRedis;
  let server: TestServer;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    server = await startTestServer({ redisUrl: redis.url, trustProxy: true, rateLimits: { api: API } });
  });
  afterAll(async () => {
    await server?.close();
    await redis?.kill();
  });

  it('keeps answering, and the insurance limiter still admits exactly the limit', async () => {
    const first = await seedUser(server, 'trader');
    const firstToken = await loginFrom(server, first, uniqueIp());
    for (let i = 0; i < 3; i += 1) expect((await rawCall(server, 'auth.me', 'query', { token: firstToken })).status).toBe(200);
    await withRedis(redis.url, async (client) => {
      expect(await client.get(limiterKey('api', API.points, API.durationSeconds, `u:${first.id}`))).toBe('3');
    });

    // Never the shared Redis: only the one this test started.
    expect(redis.port).not.toBe(6379);
    await redis.kill();
    await waitFor(() => server.logs.some((l) => l.includes('Redis unavailable')), 10_000, 'the server to notice Redis is gone');

    // Still answering, not 500.
    const after = await rawCall(server, 'auth.me', 'query', { token: firstToken });
    expect(after.status).toBe(200);
    expect(after.headers.get('ratelimit-policy')).toBe('"api";q=10;w=60');

    // A new sign-in works, and 50 parallel calls still admit exactly 10: limits hold in memory.
    const second = await seedUser(server, 'viewer');
    const token = await loginFrom(server, second, uniqueIp());
    const results = await meBurst([server], token, 50);
    expect(statuses(results)).toEqual({ 200: 10, 429: 40 });
    for (const r of results.filter((x) => x.status === 429)) expect(r.error?.data).toMatchObject({ policy: 'api', limit: 10 });
    expect(server.logs.some((l) => l.includes('"level":50') && l.includes('procedure failed'))).toBe(false);
  });
});
