/**
 * A scripted attack against two servers on one Postgres database, with every part real: detection,
 * incidents, the blocklist, alerts. Brute force from one address, payload probes from a second,
 * then an API flood from a third. It must produce exactly the expected incidents, blocks and
 * alerts; every attacker is refused on both processes; the account under attack is signed out;
 * a trader on another address trades throughout; incidents.report tells the story.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient, rejectionOf, type ApiClient } from './support/clients.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { upgradeStatusFrom } from './support/ws-upgrade.ts';
import { printOnTape, ticket } from './support/trading.ts';
import { seedUser, strongPassword, type SeededUser } from './support/users.ts';

const BRUTE = '203.0.113.66';
const PROBE = '198.51.100.66';
const FLOOD = '192.0.2.66';
const TRADER_IP = '100.64.0.7';
const ADMIN_IP = '100.64.0.8';
const VICTIM_IP = '100.64.0.9';
const MINUTE = 60_000;

let one: TestServer;
let two: TestServer;
let dropDatabase: () => Promise<void>;

const from = (server: TestServer, ip: string, token?: string): ApiClient =>
  httpClient(server, { headers: { 'x-forwarded-for': ip }, batch: false, ...(token ? { token } : {}) });

async function signInFrom(server: TestServer, user: SeededUser, ip: string): Promise<{ client: ApiClient; token: string }> {
  const { accessToken } = await from(server, ip).auth.login.mutate({ email: user.email, password: user.password, refreshTokenDelivery: 'body' });
  return { client: from(server, ip, accessToken), token: accessToken };
}

async function statusFrom(server: TestServer, ip: string): Promise<number> {
  return (await fetch(`${server.trpcUrl}/auth.me`, { headers: { 'x-forwarded-for': ip } })).status;
}


/** Every detection counted and answered: the audit rows written, both detectors drained. */
async function settle(): Promise<void> {
  for (const s of [one, two]) await s.app.deps.audit.flush();
  for (const s of [one, two]) await s.app.detector.flush();
}

beforeAll(async () => {
  const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
  dropDatabase = fresh.drop;
  // Loopback is not what these servers judge: behind the (simulated) proxy each party has its own address.
  // One JWT secret, as processes behind one load balancer share: a token from one works on the other.
  const jwtSecret = randomBytes(32);
  one = await startTestServer({ databaseUrl: fresh.url, trustProxy: true, jwtSecret, rateLimits: { 'trading.execute': { points: 1_000, durationSeconds: 60 } } });
  two = await startTestServer({ databaseUrl: fresh.url, trustProxy: true, jwtSecret });
}, 60_000);
afterAll(async () => {
  await one?.close();
  await two?.close();
  await dropDatabase?.();
});

describe('a scripted attack', () => {
  it('brute force, payload probes, then an API flood: the expected incidents, blocks and alerts; attackers refused everywhere; the desk trades on', async () => {
    const admin = await signInFrom(one, await seedUser(one, 'admin'), ADMIN_IP);
    const trader = await signInFrom(one, await seedUser(one, 'trader'), TRADER_IP);
    const victim = await seedUser(one, 'trader');
    const victimSession = await signInFrom(two, victim, VICTIM_IP);
    await admin.client.system.start.mutate();
    await printOnTape(one, 'ES', 5000);
    await printOnTape(two, 'ES', 5000);
    const trade = async () => (await trader.client.trading.execute.mutate(ticket())).status;
    expect(await trade()).not.toBe('rejected');

    // 1. Brute force from one address: six failed sign-ins, half against the victim's account
    // (each (address, email) pair stays inside its own sign-in budget of five). The sixth, the
    // one that crosses the threshold, is the victim's: the detection names the account of the
    // events that crossed it, so that account's sessions are the ones ended.
    const brute = from(one, BRUTE);
    const stranger = `nobody-${Date.now()}@desk.example`;
    for (let i = 0; i < 6; i++) {
      await rejectionOf(brute.auth.login.mutate({ email: i % 2 === 1 ? victim.email : stranger, password: strongPassword() }));
    }
    await settle();
    expect(await trade()).not.toBe('rejected');

    // 2. Payload probes from a second address: three sign-ins that fail like any other (the
    // answer says nothing of what was seen), below every sign-in threshold.
    const probe = from(one, PROBE);
    for (const email of ['<script>alert(1)</script>', '../../../../etc/passwd', "x' UNION SELECT password FROM users --"]) {
      const err = await rejectionOf(probe.auth.login.mutate({ email, password: strongPassword() }));
      expect(err.data?.code).toBe('UNAUTHORIZED');
    }
    await settle();

    // 3. An API flood from a third: 1,001 calls inside a minute, none of them signed in.
    let sent = 0;
    const flood = async () => {
      while (sent < 1_001) {
        sent += 1;
        await fetch(`${one.trpcUrl}/market.lastPrices`, { headers: { 'x-forwarded-for': FLOOD } }).then((r) => r.arrayBuffer());
      }
    };
    await Promise.all([...Array.from({ length: 16 }, flood), trade()]);
    await settle();
    expect(await trade()).not.toBe('rejected');

    // Exactly three incidents, one per attacker, each opened at its rule's severity.
    const incidents = (await admin.client.incidents.list.query({})).items;
    const byIp = (ip: string) => incidents.filter((i) => i.ips.includes(ip));
    expect(incidents).toHaveLength(3);
    expect(byIp(BRUTE).map((i) => [i.severity, i.detectionCount])).toEqual([['CRITICAL', 1]]);
    expect(byIp(PROBE).map((i) => [i.severity, i.detectionCount])).toEqual([['HIGH', 1]]);
    expect(byIp(FLOOD).map((i) => [i.severity, i.detectionCount])).toEqual([['HIGH', 1]]);

    // Three automated blocks: a day for the CRITICAL, an hour for each HIGH.
    const blocks = await admin.client.security.blocks.list.query({ status: 'active' });
    const block = (ip: string) => blocks.find((b) => b.cidr === `${ip}/32`);
    expect(blocks).toHaveLength(3);
    const lasts = (ip: string) => (new Date(block(ip)!.expiresAt!).getTime() - Date.now()) / MINUTE;
    expect(block(BRUTE)!.source).toBe('rule:brute_force');
    expect(lasts(BRUTE)).toBeGreaterThan(24 * 60 - 5);
    expect(block(PROBE)!.source).toBe('rule:payload');
    expect(lasts(PROBE)).toBeGreaterThan(55);
    expect(lasts(PROBE)).toBeLessThan(61);
    expect(block(FLOOD)!.source).toBe('rule:api_flood');

    // The alerts: per attacker its threshold, its incident and its block; the brute force also
    // recommends a lockdown (INCIDENT_AUTO_LOCKDOWN is off, so none is engaged).
    const alerts = (await admin.client.alerts.list.query({ kind: 'security', limit: 200 })).map((a) => a.security!);
    const typesFor = (ip: string) => alerts.filter((a) => a.ip === ip).map((a) => a.type).sort();
    expect(typesFor(BRUTE)).toEqual(['incident.lockdown_recommended', 'incident.opened', 'ip.blocked', 'threshold']);
    expect(typesFor(PROBE)).toEqual(['incident.opened', 'ip.blocked', 'threshold']);
    expect(typesFor(FLOOD)).toEqual(['incident.opened', 'ip.blocked', 'threshold']);
    expect(alerts).toHaveLength(10);
    expect((await admin.client.security.status.query()).active).toBe(false);

    // Every attacker is refused on both processes, on HTTP and on the WebSocket upgrade.
    for (const server of [one, two]) {
      for (const ip of [BRUTE, PROBE, FLOOD]) {
        await expect.poll(() => statusFrom(server, ip), { timeout: 1_000, interval: 20 }).toBe(403);
        expect(await upgradeStatusFrom(server, ip)).toBe(403);
      }
      expect(await statusFrom(server, TRADER_IP)).toBe(401);
      expect(await upgradeStatusFrom(server, TRADER_IP)).toBe(101);
    }

    // The account under attack was signed out; the trader was not, and trades on the other process.
    // (Ended on one process, refused on the other within the second revocation takes to spread.)
    await expect.poll(async () => (await rejectionOf(victimSession.client.auth.me.query())).data?.code, { timeout: 1_000, interval: 20 }).toBe('UNAUTHORIZED');
    expect((await from(two, TRADER_IP, trader.token).trading.execute.mutate(ticket())).status).not.toBe('rejected');

    // The brute force's report: its timeline and the audit trail of its address, the six failures in it.
    const report = await admin.client.incidents.report.query({ id: byIp(BRUTE)[0]!.id });
    expect(report.auditTrail.filter((r) => r.action === 'auth.login_failed' && r.ip === BRUTE)).toHaveLength(6);
    expect(report.timeline.map((t) => t.kind)).toContain('action');
    expect(JSON.stringify(report.timeline)).toContain('blocked');
  }, 120_000);
});
