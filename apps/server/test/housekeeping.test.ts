/**
 * The housekeeping job: sessions (with their refresh tokens) that ended longer ago than the
 * retention, and per-IP throttle rows whose window and block are over, are purged, so the tables
 * stay bounded however many sign-ins the desk sees; live sessions, their whole refresh-token
 * chain (reuse detection reads it), recently ended sessions and running throttles stay.
 */
import { describe, expect, it } from 'vitest';
import { queryRows, sql } from '@tapevision/db';
import { httpClient } from './support/clients.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { loginForBody, sleep } from './support/session-helpers.ts';
import { seedUser } from './support/users.ts';

const HOUR_MS = 3600_000;
// Each test starts a server and signs in (argon2): generous, for a loaded machine.
const SLOW = 120_000;

async function count(server: TestServer, query: ReturnType<typeof sql>): Promise<number> {
  const [row] = await queryRows<{ n: number }>(server.app.deps.db, query);
  return row!.n;
}

const sessionsOf = (server: TestServer, userId: string) => count(server, sql`select count(*)::int as n from sessions where user_id = ${userId}`);
const tokensOf = (server: TestServer, userId: string) =>
  count(server, sql`select count(*)::int as n from refresh_tokens t join sessions s on s.id = t.session_id where s.user_id = ${userId}`);
const throttleRows = (server: TestServer) => count(server, sql`select count(*)::int as n from login_ip_throttles`);

/** `n` sessions of `userId` that ended long ago (half by their lifetimes, half revoked), two refresh tokens each. */
async function insertEndedSessions(server: TestServer, userId: string, n: number): Promise<void> {
  // One transaction: a purge running between the two inserts (a leader on a short interval) would
  // take the sessions before their refresh tokens are in.
  await server.app.deps.db.transaction(async (db) => {
    await db.execute(sql`
      insert into sessions (user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at, revoked_reason)
      select ${userId}, now() - interval '30 days', now() - interval '30 days',
        now() - interval '29 days',
        case when g % 2 = 0 then now() - interval '29 days' else now() + interval '1 hour' end,
        case when g % 2 = 0 then null else now() - interval '20 days' end,
        case when g % 2 = 0 then null else 'logout' end
      from generate_series(1, ${n}) g`);
    await db.execute(sql`
      insert into refresh_tokens (session_id, token_hash, expires_at, used_at)
      select s.id, md5(s.id::text || k::text), s.absolute_expires_at, case when k = 1 then now() - interval '29 days' else null end
      from sessions s cross join generate_series(1, 2) k
      where s.user_id = ${userId} and s.created_at < now() - interval '29 days'`);
  });
}

/** `n` throttle rows whose window ended a day ago (some had a block, long over). */
async function insertSpentThrottles(server: TestServer, n: number, tag: string): Promise<void> {
  await server.app.deps.db.execute(sql`
    insert into login_ip_throttles (ip, failed_count, window_start, blocked_until)
    select ${tag} || g::text, 3, now() - interval '1 day', case when g % 3 = 0 then now() - interval '20 hours' else null end
    from generate_series(1, ${n}) g`);
}

describe('housekeeping', () => {
  it('purges ended sessions, their refresh tokens and spent throttles, keeps live ones, and keeps the tables bounded', async () => {
    await using server = await startTestServer({ housekeeping: { sessionRetentionMs: 7 * 24 * HOUR_MS } });
    const user = await seedUser(server, 'trader');
    const live = await loginForBody(server, user);
    // A rotated token in the live session: reuse detection must still find it after a purge.
    const rotated = await httpClient(server).auth.refresh.mutate({ refreshToken: live.refreshToken });
    // Ended an hour ago: inside the retention, so it stays.
    await server.app.deps.db.execute(
      sql`insert into sessions (user_id, idle_expires_at, absolute_expires_at, revoked_at, revoked_reason) values (${user.id}, now() + interval '10 minutes', now() + interval '10 hours', now() - interval '1 hour', 'logout')`,
    );
    await server.app.deps.db.execute(sql`
      insert into login_ip_throttles (ip, failed_count, window_start, blocked_until) values
        ('198.51.100.1', 20, now() - interval '1 day', now() + interval '10 minutes'),
        ('198.51.100.2', 4, now() - interval '1 minute', null)`);
    const liveSessions = await sessionsOf(server, user.id);
    const liveTokens = await tokensOf(server, user.id);
    expect(liveSessions).toBe(2);

    for (let round = 1; round <= 3; round += 1) {
      await insertEndedSessions(server, user.id, 400);
      await insertSpentThrottles(server, 300, `r${round}-`);
      expect(await sessionsOf(server, user.id)).toBe(liveSessions + 400);
      const purged = await server.app.housekeeping.runNow();
      expect(purged).toEqual({ sessions: 400, ipThrottles: 300 });
      expect(await sessionsOf(server, user.id)).toBe(liveSessions);
      expect(await tokensOf(server, user.id)).toBe(liveTokens);
      expect(await throttleRows(server)).toBe(2);
    }

    // The live session still refreshes, and still sees its rotated token replayed as a theft.
    const next = await httpClient(server).auth.refresh.mutate({ refreshToken: (rotated as { refreshToken: string }).refreshToken });
    expect(next.accessToken).toBeTruthy();
    server.clock.advance(server.app.deps.config.refreshGraceMs + 1_000);
    await expect(httpClient(server).auth.refresh.mutate({ refreshToken: live.refreshToken })).rejects.toMatchObject({ data: { reason: 'REFRESH_TOKEN_REUSED' } });
  }, SLOW);

  it('purges a session once the clock passes its end (here: idle) plus the retention', async () => {
    await using server = await startTestServer({ housekeeping: { sessionRetentionMs: HOUR_MS } });
    const user = await seedUser(server, 'viewer');
    await loginForBody(server, user);
    server.clock.advance(server.app.deps.config.sessionIdleMs + HOUR_MS / 2);
    expect(await server.app.housekeeping.runNow()).toMatchObject({ sessions: 0 });
    expect(await sessionsOf(server, user.id)).toBe(1);
    server.clock.advance(HOUR_MS);
    expect(await server.app.housekeeping.runNow()).toMatchObject({ sessions: 1 });
    expect(await sessionsOf(server, user.id)).toBe(0);
  }, SLOW);

  it('runs on its own every interval, in the process that holds its lock', async () => {
    await using server = await startTestServer({ housekeeping: { intervalMs: 300 } });
    expect(server.app.housekeeping.leading).toBe(true);
    const user = await seedUser(server, 'viewer');
    await insertEndedSessions(server, user.id, 50);
    await insertSpentThrottles(server, 50, 'auto-');
    const deadline = Date.now() + 10_000;
    while ((await sessionsOf(server, user.id)) + (await throttleRows(server)) > 0) {
      expect(Date.now(), 'the purge within 10 s').toBeLessThan(deadline);
      await sleep(100);
    }
  }, SLOW);

  it('is run by one process at a time on a shared Postgres, and taken over when that one stops', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    try {
      // Closed early below (close is idempotent), and again on the way out should the test fail first.
      await using first = await startTestServer({ databaseUrl: fresh.url, housekeeping: { intervalMs: 200 } });
      await using second = await startTestServer({ databaseUrl: fresh.url, housekeeping: { intervalMs: 200 } });
      // Which process takes the lock first is a race (start-up is asynchronous): wait for one.
      const servers = [first, second];
      const started = Date.now();
      while (!servers.some((s) => s.app.housekeeping.leading)) {
        expect(Date.now() - started, 'a leader within 10 s').toBeLessThan(10_000);
        await sleep(50);
      }
      // A second later, the other still does not lead.
      await sleep(1_000);
      expect(servers.map((s) => s.app.housekeeping.leading).filter(Boolean)).toHaveLength(1);
      const leader = first.app.housekeeping.leading ? first : second;
      const follower = leader === first ? second : first;
      await leader.close();
      const deadline = Date.now() + 10_000;
      while (!follower.app.housekeeping.leading) {
        expect(Date.now(), 'the take-over within 10 s').toBeLessThan(deadline);
        await sleep(50);
      }
      const user = await seedUser(follower, 'viewer');
      await insertEndedSessions(follower, user.id, 20);
      while ((await sessionsOf(follower, user.id)) > 0) {
        expect(Date.now(), 'the purge by the new leader').toBeLessThan(deadline + 10_000);
        await sleep(100);
      }
    } finally {
      await fresh.drop();
    }
  }, SLOW);
});
