/**
 * The IP blocklist: security.blocks.list/add/remove and their validation edges (garbage, CIDR,
 * IPv6, IPv4-mapped, past expiry, the allowlist, the own-IP guard, non-admins, unknown removal),
 * enforcement (403 on HTTP with /healthz open, 403 before the WebSocket 101, open sockets closed)
 * across two servers on one Postgres database within a second, expiry by the injected clock, and
 * a suspicious flag halving rate limits. The servers trust X-Forwarded-For, so the admin works
 * from an address of its own while the blocked one is 127.0.0.1 (calls that send none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ipFlags, securityAlerts } from '@tapevision/db';
import { errorData, httpClient, rejectionOf, type ApiClient } from './support/clients.ts';
import { auditRows, rawCall } from './support/probe.ts';
import { loginFrom, statuses } from './support/rate-limits.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { upgradeStatusFrom } from './support/ws-upgrade.ts';
import { startCluster, type ClusterNode } from './support/cluster.ts';
import { openSocket, waitFor } from './support/session-helpers.ts';
import { seedUser } from './support/users.ts';
import { loadConfig } from '../src/index.ts';

const ADMIN_IP = '203.0.113.250';
const ALLOWLIST = ['192.0.2.0/24', '2001:db8:aaaa::/48'];
const MINUTE = 60_000;

/** An admin client whose calls come from `ip` (X-Forwarded-For behind trustProxy). */
async function adminFrom(server: TestServer, ip = ADMIN_IP): Promise<{ client: ApiClient; id: string; token: string }> {
  const user = await seedUser(server, 'admin');
  const token = await loginFrom(server, user, ip);
  return { client: httpClient(server, { token, headers: { 'x-forwarded-for': ip } }), id: user.id, token };
}

/** A plain GET from `ip` (none: from 127.0.0.1 itself). */
async function getFrom(server: { url: string }, path: string, ip?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.url}${path}`, { headers: ip ? { 'x-forwarded-for': ip } : {} });
  return { status: res.status, body: await res.text() };
}

type Upgrade = { kind: 'open'; ws: WebSocket } | { kind: 'refused'; status: number; body: string };

function upgrade(server: { wsUrl: string }): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl);
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response|socket hang up/.test(err.message)) reject(err);
    });
  });
}

async function expectBadRequest(promise: Promise<unknown>, reason?: string) {
  const data = errorData(await rejectionOf(promise));
  expect(data.code).toBe('BAD_REQUEST');
  if (reason) expect(data.reason).toBe(reason);
  return data;
}

describe('SECURITY_ALLOWLIST', () => {
  it('is loopback by default, empty when set empty, normalised, and a bad entry stops the start', () => {
    expect(loadConfig({}).security.ipAllowlist).toEqual(['127.0.0.0/8', '::1/128']);
    expect(loadConfig({ SECURITY_ALLOWLIST: '' }).security.ipAllowlist).toEqual([]);
    expect(loadConfig({ SECURITY_ALLOWLIST: ' 10.1.2.3/8, ::ffff:192.0.2.1 ,2001:DB8::/32,' }).security.ipAllowlist).toEqual(['10.0.0.0/8', '192.0.2.1/32', '2001:db8::/32']);
    expect(() => loadConfig({ SECURITY_ALLOWLIST: '10.0.0.0/8,localhost' })).toThrow(/SECURITY_ALLOWLIST: "localhost"/);
  });
});

describe('security.blocks on one server', () => {
  let server: TestServer;
  let admin: Awaited<ReturnType<typeof adminFrom>>;

  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true, security: { ipAllowlist: ALLOWLIST } });
    admin = await adminFrom(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses garbage, bad prefixes, a past expiry, the allowlist and the caller’s own address, changing nothing', async () => {
    const add = (ip: string, expiresAt?: string) => admin.client.security.blocks.add.mutate({ ip, reason: 'test', ...(expiresAt ? { expiresAt } : {}) });
    for (const bad of ['garbage', '1.2.3', '256.0.0.1', '10.0.0.0/33', '2001:db8::/129', '1::2::3', '10.0.0.1/', '']) await expectBadRequest(add(bad));
    const past = new Date(server.clock.now().getTime() - 1_000).toISOString();
    await expectBadRequest(add('198.18.0.1', past), 'EXPIRY_NOT_IN_FUTURE');
    await expectBadRequest(add('198.18.0.1', 'tomorrow'));
    // The allowlist: an address on it, a range inside it, a range containing it, IPv6 and mapped spellings.
    for (const allowed of ['192.0.2.7', '192.0.2.0/28', '192.0.0.0/16', '2001:db8:aaaa::1', '::ffff:192.0.2.9']) {
      await expectBadRequest(add(allowed), 'IP_ALLOWLISTED');
      expect((await rejectionOf(add(allowed))).message).toContain('SECURITY_ALLOWLIST');
    }
    // The lock-out guard: the admin's own address, alone or inside a range.
    for (const own of [ADMIN_IP, '203.0.113.0/24', '203.0.0.0/8', `::ffff:${ADMIN_IP}`]) await expectBadRequest(add(own), 'BLOCKS_OWN_IP');
    expect(await admin.client.security.blocks.list.query()).toEqual([]);
    expect(await auditRows(server, (r) => r.action === 'security.ip_blocked')).toEqual([]);
  });

  it('adds addresses and ranges in their normal form, audited HIGH with an ip.blocked alert, and refuses a duplicate', async () => {
    const expiresAt = new Date(server.clock.now().getTime() + 60 * MINUTE).toISOString();
    const range = await admin.client.security.blocks.add.mutate({ ip: '198.18.5.77/24', reason: 'scanner range', expiresAt });
    expect(range).toMatchObject({ cidr: '198.18.5.0/24', reason: 'scanner range', source: `user:${admin.id}`, status: 'active', expiresAt, removedAt: null });
    expect(range.createdBy).toMatchObject({ id: admin.id });
    const v6 = await admin.client.security.blocks.add.mutate({ ip: '2001:DB8:BEEF:0:0:0:0:1', reason: 'v6 host' });
    expect(v6).toMatchObject({ cidr: '2001:db8:beef::1/128', expiresAt: null, status: 'active' });
    const mapped = await admin.client.security.blocks.add.mutate({ ip: '::ffff:198.19.0.7', reason: 'mapped' });
    expect(mapped.cidr).toBe('198.19.0.7/32');

    const dup = errorData(await rejectionOf(admin.client.security.blocks.add.mutate({ ip: '198.18.5.0/24', reason: 'again' })));
    expect(dup).toMatchObject({ code: 'CONFLICT', reason: 'IP_ALREADY_BLOCKED' });

    const list = await admin.client.security.blocks.list.query();
    // Active first, soonest expiry first, permanent ones after.
    expect(list.map((b) => b.cidr)).toEqual(['198.18.5.0/24', '198.19.0.7/32', '2001:db8:beef::1/128']);

    const audits = await auditRows(server, (r) => r.action === 'security.ip_blocked');
    expect(audits).toHaveLength(3);
    expect(audits[0]).toMatchObject({ severity: 'HIGH', actorId: admin.id, ip: ADMIN_IP, resourceType: 'ip_block', resourceId: range.id });
    expect(audits[0]!.details).toMatchObject({ cidr: '198.18.5.0/24', reason: 'scanner range', expiresAt });
    const alerts = (await server.app.deps.db.select().from(securityAlerts)).filter((a) => a.type === 'ip.blocked');
    // A single address is named as itself (as every other alert names one), a range by its CIDR.
    expect(alerts.map((a) => a.ip).sort()).toEqual(['198.18.5.0/24', '198.19.0.7', '2001:db8:beef::1']);
    expect(alerts[0]).toMatchObject({ severity: 'HIGH', userId: admin.id });
  });

  it('answers 403 to a blocked address (HTTP and the WebSocket upgrade), leaves /healthz open and others alone', async () => {
    await waitFor(() => server.app.ipGate.isBlocked('198.18.5.9'), 1_000, 'the gate to hold the block');
    for (const ip of ['198.18.5.9', '198.18.5.254', '2001:db8:beef::1', '::ffff:198.19.0.7']) {
      const res = await getFrom(server, '/trpc/auth.me', ip);
      expect(res, ip).toEqual({ status: 403, body: '{"status":"forbidden"}' });
      expect((await getFrom(server, '/', ip)).status, ip).toBe(403);
      expect((await getFrom(server, '/healthz', ip)).status, ip).toBe(200);
    }
    for (const ip of ['198.18.6.1', '2001:db8:beef::2', ADMIN_IP]) expect((await getFrom(server, '/trpc/auth.me', ip)).status, ip).toBe(401);
  });

  it('removes the active block of exactly that address or CIDR, kept in the list as removed; NOT_FOUND otherwise', async () => {
    for (const ip of ['198.18.5.1', '198.18.0.0/16', '203.0.113.1', '2001:db8:beef::/64']) {
      const data = errorData(await rejectionOf(admin.client.security.blocks.remove.mutate({ ip })));
      expect(data, ip).toMatchObject({ code: 'NOT_FOUND', reason: 'BLOCK_NOT_FOUND' });
    }
    await expectBadRequest(admin.client.security.blocks.remove.mutate({ ip: 'nope' }));
    // Spelt differently from the add: the normal form matches.
    const removed = await admin.client.security.blocks.remove.mutate({ ip: '198.18.5.200/24' });
    expect(removed).toMatchObject({ cidr: '198.18.5.0/24', status: 'removed', removedBy: { id: admin.id } });
    await waitFor(() => !server.app.ipGate.isBlocked('198.18.5.9'), 1_000, 'the gate to drop the block');
    expect((await getFrom(server, '/trpc/auth.me', '198.18.5.9')).status).toBe(401);

    const all = await admin.client.security.blocks.list.query();
    expect(all.map((b) => `${b.cidr}:${b.status}`)).toEqual(['198.19.0.7/32:active', '2001:db8:beef::1/128:active', '198.18.5.0/24:removed']);
    expect((await admin.client.security.blocks.list.query({ status: 'active' })).map((b) => b.cidr)).toEqual(['198.19.0.7/32', '2001:db8:beef::1/128']);
    const unblocked = await auditRows(server, (r) => r.action === 'security.ip_unblocked');
    expect(unblocked).toHaveLength(1);
    expect(unblocked[0]).toMatchObject({ actorId: admin.id, resourceId: removed.id });
    // A new block of the same range after its removal is a new row.
    const again = await admin.client.security.blocks.add.mutate({ ip: '198.18.5.0/24', reason: 'back again' });
    expect(again.id).not.toBe(removed.id);
    await admin.client.security.blocks.remove.mutate({ ip: '198.18.5.0/24' });
  });

  it('is for security.manage only: a trader and a viewer are FORBIDDEN and change nothing', async () => {
    for (const role of ['trader', 'viewer'] as const) {
      const user = await seedUser(server, role);
      const ip = role === 'trader' ? '203.0.113.10' : '203.0.113.11';
      const client = httpClient(server, { token: await loginFrom(server, user, ip), headers: { 'x-forwarded-for': ip } });
      for (const call of [
        () => client.security.blocks.list.query(),
        () => client.security.blocks.add.mutate({ ip: '198.18.9.9', reason: 'nope' }),
        () => client.security.blocks.remove.mutate({ ip: '198.19.0.7' }),
      ]) {
        expect(errorData(await rejectionOf(call())), role).toMatchObject({ code: 'FORBIDDEN', permission: 'security.manage' });
      }
    }
    expect((await admin.client.security.blocks.list.query({ status: 'active' })).map((b) => b.cidr)).toEqual(['198.19.0.7/32', '2001:db8:beef::1/128']);
  });

  it('lets the port block (never an allowlisted address), lengthening an existing block rather than adding one', async () => {
    const port = server.app.deps.securityResponse;
    const now = server.clock.now().getTime();
    const base = { reason: 'brute force', source: 'rule:brute_force', incidentId: null };
    expect(await port.blockIp({ ...base, ip: '192.0.2.50', expiresAt: new Date(now + 60 * MINUTE) })).toEqual({ blocked: false });
    expect(await port.blockIp({ ...base, ip: 'not an ip', expiresAt: new Date(now + 60 * MINUTE) })).toEqual({ blocked: false });
    expect(await port.blockIp({ ...base, ip: '198.18.7.7', expiresAt: new Date(now + 60 * MINUTE) })).toEqual({ blocked: true });
    expect(await port.blockIp({ ...base, ip: '198.18.7.7', expiresAt: new Date(now + 120 * MINUTE) })).toEqual({ blocked: true });
    // A shorter block than the one in force changes nothing.
    expect(await port.blockIp({ ...base, ip: '198.18.7.7', expiresAt: new Date(now + 30 * MINUTE) })).toEqual({ blocked: true });
    const rows = (await admin.client.security.blocks.list.query()).filter((b) => b.cidr === '198.18.7.7/32');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: 'rule:brute_force', createdBy: null, status: 'active', expiresAt: new Date(now + 120 * MINUTE).toISOString() });
    const audits = await auditRows(server, (r) => r.action === 'security.ip_blocked' && r.resourceId === rows[0]!.id);
    expect(audits.map((a) => [a.actorType, a.details.extended ?? false])).toEqual([
      ['system', false],
      ['system', true],
    ]);
    expect((await server.app.deps.db.select().from(securityAlerts)).filter((a) => a.ip === '192.0.2.50/32')).toEqual([]);
  });

  it('lets a block lapse at its expiry by the injected clock', async () => {
    const expiresAt = new Date(server.clock.now().getTime() + 2 * MINUTE).toISOString();
    await admin.client.security.blocks.add.mutate({ ip: '198.18.8.8', reason: 'two minutes', expiresAt });
    await waitFor(() => server.app.ipGate.isBlocked('198.18.8.8'), 1_000, 'the block to hold');
    expect((await getFrom(server, '/trpc/auth.me', '198.18.8.8')).status).toBe(403);
    server.clock.advance(2 * MINUTE + 1_000);
    // No re-read needed: the gate checks expiry against the clock on each lookup.
    expect((await getFrom(server, '/trpc/auth.me', '198.18.8.8')).status).toBe(401);
    const listed = (await admin.client.security.blocks.list.query()).find((b) => b.cidr === '198.18.8.8/32');
    expect(listed?.status).toBe('expired');
    // An expired block is not "the active block": removing it is NOT_FOUND, adding it again works.
    expect(errorData(await rejectionOf(admin.client.security.blocks.remove.mutate({ ip: '198.18.8.8' })))).toMatchObject({ code: 'NOT_FOUND' });
    await admin.client.security.blocks.add.mutate({ ip: '198.18.8.8', reason: 'again' });
  });
});

describe('blocks across two servers on one Postgres database', () => {
  let a: TestServer;
  let b: TestServer;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    drop = db.drop;
    // Nothing allowlisted (not even loopback, the default): these servers block the test's own 127.0.0.1.
    a = await startTestServer({ databaseUrl: db.url, trustProxy: true, security: { ipAllowlist: [] } });
    b = await startTestServer({ databaseUrl: db.url, trustProxy: true, security: { ipAllowlist: [] } });
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
  });

  it('a block of 127.0.0.1 made on A is enforced on B within a second (HTTP, WS upgrade, open socket); removal lets it back', async () => {
    const admin = await adminFrom(a);
    // Signed in from 127.0.0.1 itself, before the block: its socket is closed by it.
    const trader = await seedUser(a, 'trader');
    const traderToken = (await httpClient(b).auth.login.mutate({ email: trader.email, password: trader.password, refreshTokenDelivery: 'body' })).accessToken;
    const socket = await openSocket(b, traderToken);
    expect((await getFrom(b, '/trpc/auth.me')).status).toBe(401);

    const expiresAt = new Date(Date.now() + 60 * MINUTE);
    expect(await a.app.deps.securityResponse.blockIp({ ip: '127.0.0.1', reason: 'test attack', source: 'rule:brute_force', expiresAt, incidentId: null })).toEqual({
      blocked: true,
    });
    const since = Date.now();
    await expect.poll(async () => (await getFrom(b, '/trpc/auth.me')).status, { timeout: 1_000, interval: 20 }).toBe(403);
    expect(await getFrom(b, '/trpc/auth.me')).toEqual({ status: 403, body: '{"status":"forbidden"}' });
    expect((await getFrom(b, '/healthz')).status).toBe(200);
    const refused = await upgrade(b);
    expect(refused).toMatchObject({ kind: 'refused', status: 403, body: '{"status":"forbidden"}' });
    const closed = await waitFor(() => socket.rawCloses[0], Math.max(50, since + 1_000 - Date.now()), 'the open socket to close');
    expect(closed.code).toBe(1008);
    // A also refuses it; the admin, from elsewhere, is not affected.
    await expect.poll(async () => (await getFrom(a, '/trpc/auth.me')).status, { timeout: Math.max(50, since + 1_000 - Date.now()), interval: 20 }).toBe(403);
    const listed = await admin.client.security.blocks.list.query();
    expect(listed.map((x) => `${x.cidr}:${x.source}:${x.status}`)).toEqual(['127.0.0.1/32:rule:brute_force:active']);

    // Removed on A by the admin: B lets 127.0.0.1 back within a second.
    await admin.client.security.blocks.remove.mutate({ ip: '127.0.0.1' });
    await expect.poll(async () => (await getFrom(b, '/trpc/auth.me')).status, { timeout: 1_000, interval: 20 }).toBe(401);
    const opened = await upgrade(b);
    expect(opened.kind).toBe('open');
    if (opened.kind === 'open') opened.ws.close();
    await socket.close();
  });
});

describe('suspicious flags', () => {
  let server: TestServer;
  const FLAGGED = '198.18.77.1';
  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true, rateLimits: { api: { points: 10, durationSeconds: 60 } } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('halves the rate limits of a flagged address until its flag lapses', async () => {
    const until = new Date(server.clock.now().getTime() + 60 * MINUTE);
    await server.app.deps.securityResponse.markSuspicious({ ip: FLAGGED, reason: 'failed sign-ins', until, incidentId: null });
    // A second, shorter flag (the IPv4-mapped spelling of the same address) never shortens the first.
    await server.app.deps.securityResponse.markSuspicious({ ip: `::ffff:${FLAGGED}`, reason: 'again', until: new Date(until.getTime() - 30 * MINUTE), incidentId: null });
    const flags = await server.app.deps.db.select().from(ipFlags);
    expect(flags.map((f) => [f.ip, f.until.toISOString(), f.reason])).toEqual([[FLAGGED, until.toISOString(), 'again']]);
    await waitFor(() => server.app.ipGate.limitFactor(FLAGGED) === 0.5, 1_000, 'the flag to reach the gate');
    const call = (ip: string) => rawCall(server, 'auth.refresh', 'mutation', { headers: { 'x-forwarded-for': ip } });
    const flagged = await Promise.all(Array.from({ length: 8 }, () => call(FLAGGED)));
    expect(statuses(flagged)).toEqual({ 401: 5, 429: 3 });
    expect(flagged.find((r) => r.status === 429)?.headers.get('ratelimit-policy')).toBe('"api";q=5;w=60');
    const plain = await Promise.all(Array.from({ length: 8 }, () => call('198.18.77.2')));
    expect(statuses(plain)).toEqual({ 401: 8 });
    const audits = await auditRows(server, (r) => r.action === 'security.ip_flagged');
    expect(audits).toHaveLength(2);
    expect(audits[0]).toMatchObject({ resourceId: FLAGGED, actorType: 'system', severity: 'MEDIUM' });

    // An hour later the flag has lapsed: full limits again (for an address with a fresh budget).
    server.clock.advance(60 * MINUTE + 1_000);
    expect(server.app.ipGate.limitFactor(FLAGGED)).toBe(1);
  });
});

describe('two server processes (support/cluster.ts)', () => {
  it('a block added through A is refused by B, on HTTP and the WS upgrade, within a second; removal lets it back', { timeout: 180_000 }, async () => {
    const cluster = await startCluster(2, { TRUST_PROXY: '1' });
    try {
      const [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
      const admin = httpClient(a, { token: (await httpClient(a, { headers: { 'x-forwarded-for': ADMIN_IP } }).auth.login.mutate(cluster.admin)).accessToken, headers: { 'x-forwarded-for': ADMIN_IP } });
      const ATTACKER = '198.51.100.201';
      expect((await getFrom(b, '/trpc/auth.me', ATTACKER)).status).toBe(401);

      await admin.security.blocks.add.mutate({ ip: ATTACKER, reason: 'seen probing' });
      const since = Date.now();
      await expect.poll(async () => (await getFrom(b, '/trpc/auth.me', ATTACKER)).status, { timeout: 1_000, interval: 20 }).toBe(403);
      expect(Date.now() - since).toBeLessThan(1_000);
      expect(await upgradeStatusFrom(b, ATTACKER)).toBe(403);
      expect((await getFrom(b, '/trpc/auth.me', '198.51.100.202')).status).toBe(401);

      await admin.security.blocks.remove.mutate({ ip: ATTACKER });
      await expect.poll(async () => (await getFrom(b, '/trpc/auth.me', ATTACKER)).status, { timeout: 1_000, interval: 20 }).toBe(401);
      expect(await upgradeStatusFrom(b, ATTACKER)).toBe(101);
    } finally {
      await cluster.stop();
    }
  });
});
