/**
 * Intrusion detection through the real stack: each rule fires at its threshold and not one below
 * (seen through recordSecurityActions), parallel attackers fire once, two servers on one Postgres
 * database share one count, DETECTION_ENABLED=false fires nothing, and a watched source is held to
 * its watchedThreshold. brute_force keeps its real threshold (6); others are lowered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection, SecurityResponse } from '@tapevision/api';
import { httpClient, rejectionOf } from './support/clients.ts';
import { keyClient } from './support/api-keys.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer, type TestServerOptions } from './support/server.ts';
import { loginForBody } from './support/session-helpers.ts';
import { loadConfig } from '../src/config.ts';
import { seedUser, signIn, strongPassword } from './support/users.ts';

type Call = { action: keyof SecurityResponse; input: Record<string, unknown> };

function recorder() {
  const calls: Call[] = [];
  return {
    calls,
    // The response is the incidents' and the blocklist's to test: here blocks, flags and ended
    // sessions are answered without acting, so one rule's block never hides the next rule's count.
    record: (action: keyof SecurityResponse, input: unknown) => {
      calls.push({ action, input: input as Record<string, unknown> });
      if (action === 'endSessionsOf') return 0;
      if (action === 'blockIp') return { blocked: false };
      if (action === 'markSuspicious' || action === 'lockdown') return null;
      return undefined;
    },
    detections(rule: string, correlationKey?: string): Detection[] {
      return calls
        .filter((c) => c.action === 'reportDetection')
        .map((c) => c.input as unknown as Detection)
        .filter((d) => d.rule === rule && (correlationKey === undefined || d.correlationKey === correlationKey));
    },
    alerts(rule: string) {
      return calls.filter((c) => c.action === 'raiseAlert' && c.input.type === 'threshold' && (c.input.details as { rule?: string }).rule === rule);
    },
  };
}

let ipCounter = 0;
function freshIp(): string {
  ipCounter += 1;
  return `203.0.${Math.floor(ipCounter / 250) + 113}.${(ipCounter % 250) + 1}`;
}
let emailCounter = 0;
const freshEmail = () => `nobody${++emailCounter}-${Math.random().toString(36).slice(2, 7)}@desk.example`;

const from = (server: TestServer, ip: string, headers: Record<string, string> = {}) => httpClient(server, { headers: { 'x-forwarded-for': ip, ...headers } });

/** A failed sign-in from `ip` (a fresh email each time, so the per-IP+email login budget never answers 429). */
async function failLogin(server: TestServer, ip: string, email = freshEmail()): Promise<void> {
  await rejectionOf(from(server, ip).auth.login.mutate({ email, password: strongPassword() }));
}

/** Everything committed so far counted: the audit rows written, the detection queue drained. */
async function settle(...servers: TestServer[]): Promise<void> {
  for (const s of servers) await s.app.deps.audit.flush();
  for (const s of servers) await s.app.detector.flush();
}

const LOWERED: TestServerOptions['detection'] = {
  rules: {
    credential_stuffing: { threshold: 3, watchedThreshold: 2 },
    distributed_brute_force: { threshold: 3, watchedThreshold: 2 },
    payload: { threshold: 2 },
    rate_limited: { threshold: 3 },
    enumeration: { threshold: 3 },
  },
};

let server: TestServer;
const actions = recorder();

beforeAll(async () => {
  server = await startTestServer({ trustProxy: true, recordSecurityActions: actions.record, detection: LOWERED });
});
afterAll(async () => {
  await server?.close();
});

describe('failed sign-ins', () => {
  it('brute_force fires at its real threshold of 6 from one IP, not at 5, with a threshold alert', async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) await failLogin(server, ip);
    await settle(server);
    expect(actions.detections('brute_force', `ip:${ip}`)).toHaveLength(0);
    await failLogin(server, ip);
    await settle(server);
    const [d, ...more] = actions.detections('brute_force', `ip:${ip}`);
    expect(more).toHaveLength(0);
    expect(d).toMatchObject({ rule: 'brute_force', severity: 'CRITICAL', ip, count: 6, threshold: 6, windowSeconds: 300 });
    expect(actions.alerts('brute_force').some((a) => a.input.ip === ip)).toBe(true);
    // Further failures inside the window do not fire again.
    for (let i = 0; i < 3; i++) await failLogin(server, ip);
    await settle(server);
    expect(actions.detections('brute_force', `ip:${ip}`)).toHaveLength(1);
  });

  it('parallel failed sign-ins from one IP fire exactly once', async () => {
    const ip = freshIp();
    await Promise.all(Array.from({ length: 14 }, () => failLogin(server, ip)));
    await settle(server);
    expect(actions.detections('brute_force', `ip:${ip}`)).toHaveLength(1);
  });

  it('credential_stuffing counts distinct emails per IP (never the same one twice)', async () => {
    const ip = freshIp();
    const [a, b] = [freshEmail(), freshEmail()];
    await failLogin(server, ip, a);
    await failLogin(server, ip, b);
    await failLogin(server, ip, b);
    await settle(server);
    expect(actions.detections('credential_stuffing', `ip:${ip}`)).toHaveLength(0);
    await failLogin(server, ip);
    await settle(server);
    expect(actions.detections('credential_stuffing', `ip:${ip}`)).toMatchObject([{ count: 3, threshold: 3, severity: 'HIGH' }]);
  });

  it('distributed_brute_force counts distinct IPs failing against one account', async () => {
    const victim = await seedUser(server, 'trader');
    const ip = freshIp();
    await failLogin(server, ip, victim.email);
    await failLogin(server, ip, victim.email);
    await failLogin(server, freshIp(), victim.email);
    await settle(server);
    expect(actions.detections('distributed_brute_force', `user:${victim.id}`)).toHaveLength(0);
    await failLogin(server, freshIp(), victim.email);
    await settle(server);
    expect(actions.detections('distributed_brute_force', `user:${victim.id}`)).toMatchObject([{ count: 3, userId: victim.id }]);
  });
});

describe('sessions, keys and admins', () => {
  it('refresh_reuse fires on the first reuse of a rotated refresh token', async () => {
    const user = await seedUser(server, 'trader');
    const login = await loginForBody(server, user, { 'x-forwarded-for': freshIp() });
    const anon = httpClient(server);
    await anon.auth.refresh.mutate({ refreshToken: login.refreshToken });
    await settle(server);
    expect(actions.detections('refresh_reuse', `user:${user.id}`)).toHaveLength(0);
    // Past the grace in which a parallel refresh gets the same successor back: now it is a reuse.
    server.clock.advance(server.app.deps.config.refreshGraceMs + 1_000);
    await rejectionOf(anon.auth.refresh.mutate({ refreshToken: login.refreshToken }));
    await settle(server);
    expect(actions.detections('refresh_reuse', `user:${user.id}`)).toMatchObject([{ severity: 'HIGH', userId: user.id }]);
  });

  it('revoked_api_key fires when a revoked key is used, not for an unknown one', async () => {
    const owner = await signIn(server, await seedUser(server, 'trader'));
    const { key, apiKey } = await owner.client.apiKeys.create.mutate({ name: 'soon revoked', permissions: ['apikeys.manage'] });
    await keyClient(server, key).apiKeys.list.query();
    await rejectionOf(keyClient(server, 'tvk_aaaaaaaaaa_' + 'A'.repeat(43)).apiKeys.list.query());
    await settle(server);
    expect(actions.detections('revoked_api_key')).toHaveLength(0);
    await owner.client.apiKeys.revoke.mutate({ id: apiKey.id });
    await rejectionOf(keyClient(server, key).apiKeys.list.query());
    await settle(server);
    expect(actions.detections('revoked_api_key', `apikey:${apiKey.id}`)).toMatchObject([{ apiKeyId: apiKey.id, severity: 'HIGH' }]);
  });

  it('admin_new_ip fires for an admin sign-in from an address not in their history, not for a known one or a trader', async () => {
    const admin = await seedUser(server, 'admin');
    const trader = await seedUser(server, 'trader');
    const home = freshIp();
    await loginForBody(server, admin, { 'x-forwarded-for': home });
    await loginForBody(server, admin, { 'x-forwarded-for': home });
    await loginForBody(server, trader, { 'x-forwarded-for': home });
    await loginForBody(server, trader, { 'x-forwarded-for': freshIp() });
    await settle(server);
    expect(actions.detections('admin_new_ip', `user:${admin.id}`)).toHaveLength(0);
    expect(actions.detections('admin_new_ip', `user:${trader.id}`)).toHaveLength(0);
    const away = freshIp();
    await loginForBody(server, admin, { 'x-forwarded-for': away });
    await settle(server);
    expect(actions.detections('admin_new_ip', `user:${admin.id}`)).toMatchObject([{ ip: away, userId: admin.id }]);
  });

  it('enumeration counts FORBIDDEN calls by one principal', async () => {
    const viewer = await signIn(server, await seedUser(server, 'viewer'));
    const id = viewer.login.user.id;
    for (let i = 0; i < 2; i++) await rejectionOf(viewer.client.users.list.query());
    await settle(server);
    expect(actions.detections('enumeration', `user:${id}`)).toHaveLength(0);
    await rejectionOf(viewer.client.users.list.query());
    await settle(server);
    expect(actions.detections('enumeration', `user:${id}`)).toMatchObject([{ severity: 'MEDIUM', count: 3 }]);
  });
});

describe('request features', () => {
  it('a scanner user agent fires on a public procedure', async () => {
    const ip = freshIp();
    await rejectionOf(from(server, ip, { 'user-agent': 'Mozilla/5.0 (compatible)' }).auth.refresh.mutate({ refreshToken: 'x'.repeat(40) }));
    await settle(server);
    expect(actions.detections('scanner', `ip:${ip}`)).toHaveLength(0);
    await rejectionOf(from(server, ip, { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' }).auth.refresh.mutate({ refreshToken: 'x'.repeat(40) }));
    await settle(server);
    expect(actions.detections('scanner', `ip:${ip}`)).toMatchObject([{ severity: 'MEDIUM', details: expect.objectContaining({ scanner: 'sqlmap' }) }]);
  });

  it('suspicious payloads in any string input count per source, decoded', async () => {
    const ip = freshIp();
    const client = from(server, ip);
    await rejectionOf(client.auth.login.mutate({ email: freshEmail(), password: 'select the best plan' }));
    await rejectionOf(client.auth.login.mutate({ email: freshEmail(), password: "x' OR '1'='1" }));
    await settle(server);
    expect(actions.detections('payload', `ip:${ip}`)).toHaveLength(0);
    await rejectionOf(client.auth.login.mutate({ email: freshEmail(), password: '%253Cscript%253Ealert(1)%253C/script%253E' }));
    await settle(server);
    expect(actions.detections('payload', `ip:${ip}`)).toMatchObject([{ severity: 'HIGH', count: 2 }]);
  });

  it('rate_limited counts 429 denials for one source', async () => {
    const ip = freshIp();
    const email = freshEmail();
    // The login budget is 5 per IP and email: the 6th and later answer 429.
    for (let i = 0; i < 7; i++) await failLogin(server, ip, email);
    await settle(server);
    expect(actions.detections('rate_limited', `ip:${ip}`)).toHaveLength(0);
    await failLogin(server, ip, email);
    await settle(server);
    expect(actions.detections('rate_limited', `ip:${ip}`)).toMatchObject([{ count: 3, severity: 'MEDIUM' }]);
  });

  it('api_flood counts calls per IP and per principal', async () => {
    const flood = recorder();
    await using s = await startTestServer({ trustProxy: true, recordSecurityActions: flood.record, detection: { rules: { api_flood: { threshold: 8 } } } });
    const user = await signIn(s, await seedUser(s, 'trader'));
    const ip = freshIp();
    const authed = httpClient(s, { token: user.token, headers: { 'x-forwarded-for': ip }, batch: false });
    for (let i = 0; i < 7; i++) await authed.apiKeys.list.query();
    await settle(s);
    expect(flood.detections('api_flood', `ip:${ip}`)).toHaveLength(0);
    await authed.apiKeys.list.query();
    await settle(s);
    expect(flood.detections('api_flood', `ip:${ip}`)).toMatchObject([{ count: 8 }]);
    // Sign-in and these eight calls were the user's too (the sign-in not: it had no principal).
    expect(flood.detections('api_flood', `user:${user.login.user.id}`)).toMatchObject([{ count: 8, userId: user.login.user.id }]);
  });
});

/** A log line of the detector failing (a count, an event, a report). */
const detectionFailure = (line: string) => /"level":50.*detection|detection[^"]*failed/.test(line);

describe('switches and watch', () => {
  it('a bad DETECTION_RULES or DETECTION_ENABLED stops the start with a clear message', () => {
    expect(() => loadConfig({ DETECTION_RULES: '{"brute_force":{"threshold":0}}' })).toThrow(/DETECTION_RULES is invalid at brute_force\.threshold/);
    expect(() => loadConfig({ DETECTION_RULES: '{"no_such_rule":{}}' })).toThrow(/DETECTION_RULES is invalid/);
    expect(() => loadConfig({ DETECTION_RULES: 'not json' })).toThrow(/DETECTION_RULES must be a JSON object/);
    expect(() => loadConfig({ DETECTION_ENABLED: 'maybe' })).toThrow(/DETECTION_ENABLED must be true or false/);
    expect(loadConfig({ DETECTION_RULES: '{"brute_force":{"threshold":9}}', DETECTION_ENABLED: 'false' }).detection).toMatchObject({ enabled: false, rules: { brute_force: { threshold: 9, windowSeconds: 300 } } });
  });

  it('DETECTION_ENABLED=false fires nothing', async () => {
    const off = recorder();
    await using s = await startTestServer({ trustProxy: true, recordSecurityActions: off.record, detection: { enabled: false } });
    const ip = freshIp();
    for (let i = 0; i < 7; i++) await failLogin(s, ip);
    await settle(s);
    expect(off.calls.filter((c) => c.action === 'reportDetection' || c.action === 'raiseAlert')).toHaveLength(0);
  });

  it('a source under watch (after a MEDIUM detection) is held to the watchedThreshold', async () => {
    const ip = freshIp();
    // A scanner user agent: MEDIUM, which puts the address under watch.
    await rejectionOf(from(server, ip, { 'user-agent': 'Nikto/2.5.0' }).auth.refresh.mutate({ refreshToken: 'y'.repeat(40) }));
    await settle(server);
    expect(actions.calls.some((c) => c.action === 'markSuspicious' && c.input.ip === ip)).toBe(true);
    for (let i = 0; i < 2; i++) await failLogin(server, ip);
    await settle(server);
    expect(actions.detections('brute_force', `ip:${ip}`)).toHaveLength(0);
    await failLogin(server, ip);
    await settle(server);
    expect(actions.detections('brute_force', `ip:${ip}`)).toMatchObject([{ count: 3, threshold: 3, details: expect.objectContaining({ watched: true }) }]);
  });
});

describe('two servers on one Postgres database', () => {
  it('share one count: 3 failures on A and 3 on B fire one brute_force', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    const shared = recorder();
    try {
      await using a = await startTestServer({ databaseUrl: fresh.url, trustProxy: true, recordSecurityActions: shared.record });
      await using b = await startTestServer({ databaseUrl: fresh.url, trustProxy: true, recordSecurityActions: shared.record });
      const ip = freshIp();
      for (let i = 0; i < 3; i++) await failLogin(a, ip);
      for (let i = 0; i < 2; i++) await failLogin(b, ip);
      await settle(a, b);
      expect(shared.detections('brute_force', `ip:${ip}`)).toHaveLength(0);
      await Promise.all([failLogin(a, ip), failLogin(b, ip), failLogin(a, ip), failLogin(b, ip)]);
      await settle(a, b);
      expect([...a.logs, ...b.logs].filter(detectionFailure)).toEqual([]);
      expect(shared.detections('brute_force', `ip:${ip}`)).toHaveLength(1);
    } finally {
      await fresh.drop();
    }
  });
});

describe('the worker', () => {
  it('logged no failure while counting everything above', () => {
    expect(server.logs.filter(detectionFailure)).toEqual([]);
  });
});
