/**
 * security.report end to end: every section against events produced through the API (failed
 * sign-ins from faked client IPs, a lock-out, a refresh-token replay, admin actions, key
 * revocations, rate-limit denials) and recorded in volume around each threshold; rows outside
 * [from, to) left out, the boundaries exact; who may read it, what input is refused, and that the
 * read is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@tapevision/api';
import { keyClient } from './support/api-keys.ts';
import { errorData, httpClient, rejectionOf, type ApiClient } from './support/clients.ts';
import { auditRows } from './support/probe.ts';
import { uniqueIp } from './support/rate-limits.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { bodyRefreshToken, loginForBody, sidOf } from './support/session-helpers.ts';
import { seedUser, signIn, type SeededUser } from './support/users.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let server: TestServer;
/** The reader: an admin's API key with logs.view only (no session, so clock jumps do not end it). */
let auditor: SeededUser;
let reporterKeyId: string;
let reporterKey: string;
let reporter: ApiClient;

beforeAll(async () => {
  // The report's aggregates of failures from simulated addresses; detection would block those
  // addresses part-way through (its own tests cover that).
  server = await startTestServer({ trustProxy: true, detection: { enabled: false } });
  auditor = await seedUser(server, 'admin');
  const session = await signIn(server, auditor);
  const created = await session.client.apiKeys.create.mutate({ name: 'security reports', permissions: ['logs.view'] });
  reporterKeyId = created.apiKey.id;
  reporterKey = created.key;
  reporter = keyClient(server, reporterKey);
});
afterAll(async () => {
  await server?.close();
});

type Range = { from: string; to: string };

async function report(range: Range, client: ApiClient = reporter) {
  await server.app.deps.audit.flush();
  return client.security.report.query(range);
}

/**
 * A time window for one test: opened 10 ms after anything earlier, closed with `to` just past the
 * last row in it, and the clock moved on so nothing written later (the report's own audit row)
 * falls inside.
 */
function openWindow() {
  server.clock.advance(10);
  const from = server.clock.now();
  return {
    close(): Range {
      const to = new Date(server.clock.now().getTime() + 1);
      server.clock.advance(10);
      return { from: from.toISOString(), to: to.toISOString() };
    },
  };
}

type EventInput = Partial<Omit<AuditEvent, 'origin'>> & Pick<AuditEvent, 'action'> & { ip?: string | null; requestId?: string };

/** Files one audit event straight through the recorder, with an explicit origin. */
function record(e: EventInput): Promise<void> {
  const { ip = null, requestId = null, ...rest } = e;
  return server.app.deps.audit.record({
    outcome: 'success',
    actor: { type: 'system' },
    ...rest,
    origin: { ip, userAgent: 'security-report-test', requestId },
  });
}

async function times(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += 1) await fn(i);
}

function anonymous(ip: string): ApiClient {
  return httpClient(server, { headers: { 'x-forwarded-for': ip } });
}

async function failLogin(ip: string, email: string, password = 'definitely-not-the-password'): Promise<void> {
  const err = await rejectionOf(anonymous(ip).auth.login.mutate({ email, password }));
  expect(errorData(err).code).toBe('UNAUTHORIZED');
}

function unknownEmail(tag: string): string {
  return `${tag}-${Math.random().toString(36).slice(2, 10)}@nowhere.example`;
}

function randomUuid(): string {
  return crypto.randomUUID();
}

function inside(range: Range, at: Date): boolean {
  const t = at.toISOString();
  return t >= range.from && t < range.to;
}

/** ISO time of the newest of these rows. */
function latest(rows: { at: Date }[]): string {
  return new Date(Math.max(...rows.map((r) => r.at.getTime()))).toISOString();
}

/** ISO time of the one audit row with this request id. */
async function atOf(requestId: string): Promise<string> {
  const rows = await auditRows(server, (r) => r.requestId === requestId);
  expect(rows).toHaveLength(1);
  return (rows[0]?.at as Date).toISOString();
}

async function expectBadRequest(input: unknown) {
  const err = await rejectionOf(reporter.security.report.query(input as Range));
  expect(errorData(err)).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
}

describe('actions', () => {
  it('counts each action with its distinct acting users (a key counts for its owner) and distinct IPs, in [from, to) only', async () => {
    const [a, b, c] = [randomUuid(), randomUuid(), randomUuid()];
    const [ip1, ip2, ip3, ip4] = [uniqueIp(), uniqueIp(), uniqueIp(), uniqueIp()];
    await record({ action: 'user.created', actor: { type: 'user', id: c }, ip: ip1 });

    const w = openWindow();
    await record({ action: 'user.created', actor: { type: 'user', id: a }, ip: ip1 });
    await record({ action: 'user.created', actor: { type: 'user', id: a }, ip: ip2 });
    await record({ action: 'user.created', actor: { type: 'user', id: b }, ip: ip2 });
    // The reporting key's row and its owner's own rows are one user.
    await record({ action: 'audit.viewed', actor: { type: 'apikey', id: reporterKeyId }, ip: ip3 });
    await record({ action: 'audit.viewed', actor: { type: 'user', id: auditor.id }, ip: ip3 });
    await record({ action: 'audit.viewed', actor: { type: 'user', id: auditor.id }, ip: null });
    // Only through the key: still its owner's action.
    await record({ action: 'audit.verified', actor: { type: 'apikey', id: reporterKeyId } });
    await record({ action: 'system.started' });
    await record({ action: 'auth.login_failed', outcome: 'failure', actor: { type: 'anonymous' }, ip: ip4, details: { email: 'x@y.example' } });
    const range = w.close();
    await record({ action: 'user.created', actor: { type: 'user', id: c }, ip: ip1 });

    const r = await report(range);
    expect(r.from).toBe(range.from);
    expect(r.to).toBe(range.to);
    expect(r.actions).toEqual([
      { action: 'audit.viewed', count: 3, distinctUsers: 1, distinctIps: 1 },
      { action: 'user.created', count: 3, distinctUsers: 2, distinctIps: 2 },
      { action: 'audit.verified', count: 1, distinctUsers: 1, distinctIps: 0 },
      { action: 'auth.login_failed', count: 1, distinctUsers: 0, distinctIps: 1 },
      { action: 'system.started', count: 1, distinctUsers: 0, distinctIps: 0 },
    ]);
    const totals = r.perDay.reduce((t, d) => ({ success: t.success + d.success, failure: t.failure + d.failure, denied: t.denied + d.denied }), {
      success: 0,
      failure: 0,
      denied: 0,
    });
    expect(totals).toEqual({ success: 8, failure: 1, denied: 0 });
    expect(r.failedLoginIps).toEqual([]);
    expect(r.destructiveUsers).toEqual([]);
    expect(r.lockouts).toEqual([]);
    expect(r.refreshReuse).toEqual([]);
    expect(r.rateLimitDenials).toEqual([]);
  });

  it('includes a row at exactly `from` and leaves out a row at exactly `to`', async () => {
    const ids = [randomUuid(), randomUuid(), randomUuid()];
    const rid = ids.map(() => `rid-${randomUuid()}`);
    await times(3, async (i) => {
      server.clock.advance(5);
      await record({ action: 'user.unlocked', actor: { type: 'user', id: ids[i] }, requestId: rid[i] });
    });
    const [at0, at1, at2] = [await atOf(rid[0] as string), await atOf(rid[1] as string), await atOf(rid[2] as string)];
    server.clock.advance(10);

    const first = await report({ from: at0, to: at2 });
    expect(first.actions).toEqual([{ action: 'user.unlocked', count: 2, distinctUsers: 2, distinctIps: 0 }]);
    const later = await report({ from: new Date(Date.parse(at0) + 1).toISOString(), to: new Date(Date.parse(at2) + 1).toISOString() });
    expect(later.actions).toEqual([{ action: 'user.unlocked', count: 2, distinctUsers: 2, distinctIps: 0 }]);
    const onlyMiddle = await report({ from: at1, to: at2 });
    expect(onlyMiddle.actions).toEqual([{ action: 'user.unlocked', count: 1, distinctUsers: 1, distinctIps: 0 }]);
  });
});

describe('failed sign-ins per IP', () => {
  it('lists IPs with more than 10 failures (11 yes, 10 no) with the distinct accounts tried and the last failure', async () => {
    const victim = await seedUser(server, 'trader');
    const [ipA, ipB, ipC, ipD, ipE] = [uniqueIp(), uniqueIp(), uniqueIp(), uniqueIp(), uniqueIp()];
    const failed = (ip: string | null, email: string, userId?: string) =>
      record({
        action: 'auth.login_failed',
        outcome: 'failure',
        actor: userId ? { type: 'user', id: userId } : { type: 'anonymous' },
        ip,
        details: { email, reason: userId ? 'bad_password' : 'unknown_email' },
      });
    // One of C's 11 failures falls before the window: 10 inside, so C is not listed.
    await failed(ipC, 'c0@nowhere.example');

    const w = openWindow();
    // A: 11 failures on 3 accounts (an email typed in two cases is one account).
    await times(5, () => failed(ipA, 'a1@nowhere.example'));
    await failed(ipA, 'A1@NoWhere.Example');
    await times(3, () => failed(ipA, 'a2@nowhere.example'));
    await times(2, () => failed(ipA, victim.email, victim.id));
    // B: exactly 10, on 10 accounts.
    await times(10, (i) => failed(ipB, `b${i}@nowhere.example`));
    await times(10, (i) => failed(ipC, `c${i + 1}@nowhere.example`));
    // No IP at all, and failures of another action: neither counts.
    await times(12, (i) => failed(null, `n${i}@nowhere.example`));
    await times(12, () => record({ action: 'auth.refresh_failed', outcome: 'failure', actor: { type: 'anonymous' }, ip: ipE }));
    // D, through the API: 10 unknown emails and 2 wrong passwords for a real account.
    for (let i = 0; i < 10; i += 1) await failLogin(ipD, unknownEmail(`d${i}`));
    await failLogin(ipD, victim.email);
    await failLogin(ipD, victim.email);
    const range = w.close();

    const rows = await auditRows(server, (r) => r.action === 'auth.login_failed' && (r.ip === ipA || r.ip === ipD));
    const lastAt = (ip: string) => latest(rows.filter((r) => r.ip === ip));
    expect(rows.filter((r) => r.ip === ipD)).toHaveLength(12);

    const r = await report(range);
    expect(r.failedLoginIps).toEqual([
      { ip: ipD, failures: 12, distinctAccounts: 11, lastAt: lastAt(ipD) },
      { ip: ipA, failures: 11, distinctAccounts: 3, lastAt: lastAt(ipA) },
    ]);
    expect(r.actions.find((a) => a.action === 'auth.login_failed')).toEqual({
      action: 'auth.login_failed',
      count: 12 + 11 + 10 + 10 + 12,
      distinctUsers: 1,
      distinctIps: 4,
    });
  });
});

describe('destructive actions per user', () => {
  it('lists users with more than 5 destructive actions (6 yes, 5 no), per action, with their email; a key counts for its owner', async () => {
    const admin = await seedUser(server, 'admin');
    const session = await signIn(server, admin);
    const second = await signIn(server, admin);
    const [v1, v2] = [await seedUser(server, 'viewer'), await seedUser(server, 'trader')];
    const ownKey = await session.client.apiKeys.create.mutate({ name: 'to revoke', permissions: ['trading.view'] });
    const keyOwner = await seedUser(server, 'trader');
    const ownerKey = await (await signIn(server, keyOwner)).client.apiKeys.create.mutate({ name: 'exporter', permissions: ['trading.view'] });
    const fiveOnly = await seedUser(server, 'admin');
    const straddler = await seedUser(server, 'admin');
    const ghost = randomUuid();
    const destructive = (userId: string, action: AuditEvent['action'], actorType: 'user' | 'apikey' = 'user') =>
      record({ action, actor: { type: actorType, id: userId }, ip: uniqueIp() });
    await destructive(straddler.id, 'user.disabled');

    const w = openWindow();
    // The admin, through the API: five destructive actions, and one export.
    await session.client.users.update.mutate({ id: v1.id, status: 'disabled' });
    await session.client.users.resetPassword.mutate({ id: v2.id });
    await session.client.users.revokeSessions.mutate({ id: v2.id });
    await session.client.apiKeys.revoke.mutate({ id: ownKey.apiKey.id });
    await session.client.sessions.revoke.mutate({ sessionId: sidOf(second.token) });
    await destructive(admin.id, 'audit.exported');
    // Not destructive: creating users, changing a role, unlocking.
    await session.client.users.update.mutate({ id: v2.id, role: 'viewer' });
    await session.client.users.unlock.mutate({ id: v2.id });
    // Exactly five, with non-destructive actions besides.
    await times(5, () => destructive(fiveOnly.id, 'session.revoked'));
    await times(3, () => destructive(fiveOnly.id, 'user.created'));
    // Five as a user and two through the user's API key.
    await times(3, () => destructive(keyOwner.id, 'apikey.revoked'));
    await times(2, () => destructive(keyOwner.id, 'user.sessions_revoked'));
    await times(2, () => destructive(ownerKey.apiKey.id, 'audit.exported', 'apikey'));
    // Six, but one of them before the window.
    await times(5, () => destructive(straddler.id, 'user.disabled'));
    // An actor no longer in the users table: listed, without an email.
    await times(8, () => destructive(ghost, 'user.password_reset'));
    // The system's deletions belong to no user.
    await times(9, () => record({ action: 'audit.retention_applied', actor: { type: 'system' } }));
    const range = w.close();
    await times(3, () => destructive(fiveOnly.id, 'session.revoked'));

    const r = await report(range);
    expect(r.destructiveUsers).toEqual([
      { userId: ghost, email: null, count: 8, actions: { 'user.password_reset': 8 } },
      { userId: keyOwner.id, email: keyOwner.email, count: 7, actions: { 'apikey.revoked': 3, 'user.sessions_revoked': 2, 'audit.exported': 2 } },
      {
        userId: admin.id,
        email: admin.email,
        count: 6,
        actions: {
          'user.disabled': 1,
          'user.password_reset': 1,
          'user.sessions_revoked': 1,
          'apikey.revoked': 1,
          'session.revoked': 1,
          'audit.exported': 1,
        },
      },
    ]);
  });
});

describe('lock-outs and refresh-token reuse', () => {
  it('lists each lock-out and each replayed refresh token with the user, email, session and IP, newest first', async () => {
    const locked = await seedUser(server, 'trader');
    const robbed = await seedUser(server, 'viewer');
    await record({ action: 'auth.account_locked', resource: { type: 'user', id: robbed.id }, ip: uniqueIp() });

    const w = openWindow();
    // Five wrong passwords from five addresses lock the account; the fifth names the address.
    const ips = [uniqueIp(), uniqueIp(), uniqueIp(), uniqueIp(), uniqueIp()];
    for (const ip of ips) await failLogin(ip, locked.email);

    // A refresh token replayed after its grace window, from another address: theft.
    const login = await loginForBody(server, robbed, { 'x-forwarded-for': uniqueIp() });
    const rotated = await anonymous(uniqueIp()).auth.refresh.mutate({ refreshToken: login.refreshToken });
    expect(bodyRefreshToken(rotated)).toBeTruthy();
    server.clock.advance(11_000);
    const thiefIp = uniqueIp();
    const replay = await rejectionOf(anonymous(thiefIp).auth.refresh.mutate({ refreshToken: login.refreshToken }));
    expect(errorData(replay).reason).toBe('REFRESH_TOKEN_REUSED');
    // A replay the server could tie to no session.
    await record({ action: 'auth.refresh_reuse', outcome: 'denied', actor: { type: 'anonymous' }, ip: thiefIp });
    const range = w.close();
    await record({ action: 'auth.account_locked', resource: { type: 'user', id: robbed.id }, ip: uniqueIp() });

    const lockRows = await auditRows(server, (r) => r.action === 'auth.account_locked' && r.resourceId === locked.id);
    expect(lockRows).toHaveLength(1);
    const reuseRows = await auditRows(server, (r) => r.action === 'auth.refresh_reuse' && r.ip === thiefIp);
    expect(reuseRows).toHaveLength(2);

    const r = await report(range);
    expect(r.lockouts).toEqual([{ at: lockRows[0]?.at.toISOString(), userId: locked.id, email: locked.email, ip: ips[4] }]);
    expect(r.refreshReuse).toEqual([
      { at: reuseRows[1]?.at.toISOString(), userId: null, email: null, sessionId: null, ip: thiefIp },
      { at: reuseRows[0]?.at.toISOString(), userId: robbed.id, email: robbed.email, sessionId: login.sessionId, ip: thiefIp },
    ]);
  });
});

describe('rate-limit denials', () => {
  it('sums coalesced denials per principal: user or key by id, anonymous callers by IP', async () => {
    const trader = await seedUser(server, 'trader');
    const traderSession = await signIn(server, trader);
    const limited = await traderSession.client.apiKeys.create.mutate({ name: 'limited', permissions: ['apikeys.manage'], rateLimit: 2 });
    const someone = randomUuid();
    const anonIp = uniqueIp();
    const denied = (actor: AuditEvent['actor'], ip: string | null, details: Record<string, unknown>) =>
      record({ action: 'ratelimit.denied', outcome: 'denied', actor, ip, resource: { type: 'ratelimit', id: 'api' }, details });
    await denied({ type: 'user', id: someone }, uniqueIp(), { policy: 'api', limitedBy: `u:${someone}`, count: 100 });

    const w = openWindow();
    // Anonymous, through the API: five failed sign-ins spend the login budget, three more are refused.
    const email = unknownEmail('flood');
    for (let i = 0; i < 5; i += 1) await failLogin(anonIp, email);
    for (let i = 0; i < 3; i += 1) {
      expect(errorData(await rejectionOf(anonymous(anonIp).auth.login.mutate({ email, password: 'still-wrong-password' }))).code).toBe(
        'TOO_MANY_REQUESTS',
      );
    }
    // A key limited to 2 calls a minute, called 6 times: 4 refused.
    const keyed = keyClient(server, limited.key, { batch: false });
    await keyed.apiKeys.list.query();
    await keyed.apiKeys.list.query();
    for (let i = 0; i < 4; i += 1) expect(errorData(await rejectionOf(keyed.apiKeys.list.query())).code).toBe('TOO_MANY_REQUESTS');
    // The coalesced summaries, written now rather than when their windows close.
    await server.app.deps.rateLimits.denials.flush();
    // A user's denials from two addresses, one summary row, and a row without a count (one denial).
    await denied({ type: 'user', id: someone }, uniqueIp(), { policy: 'api', limitedBy: `u:${someone}`, count: 1, summary: false });
    await denied({ type: 'user', id: someone }, uniqueIp(), { policy: 'api', limitedBy: `u:${someone}`, count: 7, summary: true });
    await denied({ type: 'user', id: someone }, null, { policy: 'api', limitedBy: `u:${someone}` });
    const range = w.close();
    await denied({ type: 'anonymous', id: null }, anonIp, { policy: 'api', limitedBy: `ip:${anonIp}`, count: 50 });

    const rows = await auditRows(server, (r) => r.action === 'ratelimit.denied');
    const lastAt = (match: (r: (typeof rows)[number]) => boolean) => latest(rows.filter((r) => match(r) && inside(range, r.at)));
    // Coalesced: one row at once and one summary per (policy, caller).
    expect(rows.filter((r) => r.actorId === limited.apiKey.id).map((r) => r.details.count)).toEqual([1, 3]);
    expect(rows.filter((r) => r.actorType === 'anonymous' && r.ip === anonIp).map((r) => r.details.count)).toEqual([1, 2, 50]);

    const r = await report(range);
    expect(r.rateLimitDenials).toEqual([
      { principal: someone, actorType: 'user', denials: 9, lastAt: lastAt((x) => x.actorId === someone) },
      { principal: limited.apiKey.id, actorType: 'apikey', denials: 4, lastAt: lastAt((x) => x.actorId === limited.apiKey.id) },
      { principal: anonIp, actorType: 'anonymous', denials: 3, lastAt: lastAt((x) => x.actorType === 'anonymous' && x.ip === anonIp) },
    ]);
    expect(r.actions.find((a) => a.action === 'ratelimit.denied')?.count).toBe(2 + 2 + 3);
  });
});

describe('per day', () => {
  it('buckets rows by UTC day and outcome, empty days included; `to` at midnight ends the day before', async () => {
    // Past the next UTC midnight, clear of every row written so far.
    const now = server.clock.now().getTime();
    const day1 = Math.ceil(now / DAY) * DAY + DAY;
    server.clock.advance(day1 + HOUR - now);
    await times(2, () => record({ action: 'auth.login', actor: { type: 'user', id: auditor.id } }));
    await record({ action: 'auth.login_failed', outcome: 'failure', actor: { type: 'anonymous' }, ip: uniqueIp() });
    server.clock.advance(2 * DAY);
    await record({ action: 'auth.logout', actor: { type: 'user', id: auditor.id } });
    await record({ action: 'authz.denied', outcome: 'denied', actor: { type: 'user', id: auditor.id } });
    server.clock.advance(DAY);

    const iso = (ms: number) => new Date(ms).toISOString();
    const ymd = (ms: number) => iso(ms).slice(0, 10);
    const whole = await report({ from: iso(day1), to: iso(day1 + 3 * DAY) });
    expect(whole.perDay).toEqual([
      { day: ymd(day1), success: 2, failure: 1, denied: 0 },
      { day: ymd(day1 + DAY), success: 0, failure: 0, denied: 0 },
      { day: ymd(day1 + 2 * DAY), success: 1, failure: 0, denied: 1 },
    ]);
    const toMidnight = await report({ from: iso(day1), to: iso(day1 + 2 * DAY) });
    expect(toMidnight.perDay).toEqual([
      { day: ymd(day1), success: 2, failure: 1, denied: 0 },
      { day: ymd(day1 + DAY), success: 0, failure: 0, denied: 0 },
    ]);
    const offset = await report({ from: iso(day1 + 30 * 60_000), to: iso(day1 + 2 * DAY + 30 * 60_000) });
    expect(offset.perDay).toEqual([
      { day: ymd(day1), success: 2, failure: 1, denied: 0 },
      { day: ymd(day1 + DAY), success: 0, failure: 0, denied: 0 },
      { day: ymd(day1 + 2 * DAY), success: 0, failure: 0, denied: 0 },
    ]);
    // The longest range allowed: 366 days, one bucket each.
    const year = await report({ from: iso(day1), to: iso(day1 + 366 * DAY) });
    expect(year.perDay).toHaveLength(366);
    expect(year.perDay.at(-1)?.day).toBe(ymd(day1 + 365 * DAY));
  });
});

describe('access and input', () => {
  it('is for logs.view: admins read it, traders and viewers get FORBIDDEN, anonymous callers UNAUTHORIZED', async () => {
    const range = { from: new Date(server.clock.now().getTime() - HOUR).toISOString(), to: server.clock.now().toISOString() };
    const admin = await signIn(server, await seedUser(server, 'admin'));
    await expect(admin.client.security.report.query(range)).resolves.toMatchObject({ from: range.from, to: range.to });
    for (const role of ['trader', 'viewer'] as const) {
      const user = await seedUser(server, role);
      const session = await signIn(server, user);
      const err = await rejectionOf(session.client.security.report.query(range));
      expect(errorData(err)).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'MISSING_PERMISSION', permission: 'logs.view' });
      const denials = await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === user.id);
      expect(denials.map((d) => d.resourceId)).toEqual(['security.report']);
    }
    expect(errorData(await rejectionOf(httpClient(server).security.report.query(range))).code).toBe('UNAUTHORIZED');
  });

  it('refuses a reversed or empty range, more than 366 days, malformed times and unknown keys with BAD_REQUEST, unaudited', async () => {
    const viewed = async () => (await auditRows(server, (r) => r.action === 'security.report_viewed')).length;
    const before = await viewed();
    const t = server.clock.now().getTime();
    const iso = (ms: number) => new Date(ms).toISOString();
    await expectBadRequest({ from: iso(t), to: iso(t - 1) });
    await expectBadRequest({ from: iso(t), to: iso(t) });
    await expectBadRequest({ from: iso(t - 366 * DAY - 1), to: iso(t) });
    await expectBadRequest({ from: iso(t - HOUR), to: iso(t), actor: 'x' });
    await expectBadRequest({ from: 'yesterday', to: iso(t) });
    await expectBadRequest({ from: iso(t - HOUR) });
    await expectBadRequest({ from: iso(t - HOUR), to: 12345 });
    expect(await viewed()).toBe(before);
    // The bound itself is allowed.
    await expect(report({ from: iso(t - 366 * DAY), to: iso(t) })).resolves.toMatchObject({ from: iso(t - 366 * DAY) });
  });

  it('audits every read with its range, reader and address, and the reads show up in later reports', async () => {
    const ip = uniqueIp();
    const viaProxy = keyClient(server, reporterKey, { headers: { 'x-forwarded-for': ip } });
    const w = openWindow();
    const t = server.clock.now().getTime();
    const asked = { from: new Date(t - DAY).toISOString(), to: new Date(t).toISOString() };
    await report(asked, viaProxy);
    const admin = await seedUser(server, 'admin');
    const session = await signIn(server, admin);
    await report(asked, session.client);
    const range = w.close();

    const rows = await auditRows(server, (r) => r.action === 'security.report_viewed' && inside(range, r.at));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ actorType: 'apikey', actorId: reporterKeyId, ip, outcome: 'success', severity: 'MEDIUM', details: asked });
    expect(rows[1]).toMatchObject({ actorType: 'user', actorId: admin.id, outcome: 'success', severity: 'MEDIUM', details: asked });

    const later = await report(range);
    expect(later.actions.find((a) => a.action === 'security.report_viewed')).toEqual({
      action: 'security.report_viewed',
      count: 2,
      distinctUsers: 2,
      distinctIps: 2,
    });
  });
});

describe('under concurrency', () => {
  it('counts 40 parallel failed sign-ins exactly once each, and audits 5 parallel reads once each', async () => {
    const hot = uniqueIp();
    const w = openWindow();
    const attempts = Array.from({ length: 40 }, (_, i) => (i < 25 ? hot : uniqueIp()));
    const results = await Promise.allSettled(
      attempts.map((ip, i) => anonymous(ip).auth.login.mutate({ email: unknownEmail(`par${i}`), password: 'parallel-guess-x' })),
    );
    expect(results.every((x) => x.status === 'rejected')).toBe(true);
    const range = w.close();

    const hotRows = await auditRows(server, (x) => x.action === 'auth.login_failed' && x.ip === hot);
    expect(hotRows).toHaveLength(25);
    const r = await report(range);
    // The hot address crosses the 20-failure throttle mid-burst; throttled attempts are failures too.
    expect(r.failedLoginIps).toEqual([{ ip: hot, failures: 25, distinctAccounts: 25, lastAt: latest(hotRows) }]);
    expect(r.actions.find((a) => a.action === 'auth.login_failed')).toEqual({
      action: 'auth.login_failed',
      count: 40,
      distinctUsers: 0,
      distinctIps: 16,
    });
    const byOutcome = r.perDay.reduce((n, d) => n + d.failure + d.denied, 0);
    expect(byOutcome).toBe(40);

    const viewedBefore = (await auditRows(server, (x) => x.action === 'security.report_viewed')).length;
    const reads = await Promise.all(Array.from({ length: 5 }, () => reporter.security.report.query(range)));
    for (const read of reads) expect(read).toEqual(r);
    expect((await auditRows(server, (x) => x.action === 'security.report_viewed')).length).toBe(viewedBefore + 5);
  });
});
