/**
 * API keys: created once and shown once, stored only as a SHA-256 hash, bounded by the owner's
 * rights at creation and again at every call, accepted over HTTP (x-api-key) and WebSocket
 * (connectionParams.apiKey), refused with a reason (and audited) when malformed, unknown,
 * expired, revoked or rolled past their grace, and scoped to their owner (admins see all).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { errorData, rejectionOf, type WsTestClient } from './support/clients.ts';
import {
  API_KEY_FORMAT,
  apiKeyRow,
  apiKeyRows,
  dumpDatabase,
  keyClient,
  keyWsClient,
  sha256Hex,
  splitKey,
} from './support/api-keys.ts';
import { auditRows, rawCall } from './support/probe.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function keySocket(key: string): WsTestClient {
  const ws = keyWsClient(server, key);
  sockets.push(ws);
  return ws;
}

async function signedIn(role: SeededUser['role']): Promise<{ user: SeededUser; session: SignedIn }> {
  const user = await seedUser(server, role);
  return { user, session: await signIn(server, user) };
}

const MESSAGES: Record<string, RegExp> = {
  API_KEY_MALFORMED: /malformed/i,
  API_KEY_UNKNOWN: /not valid/i,
  API_KEY_REVOKED: /revoked/i,
  API_KEY_EXPIRED: /expired/i,
  API_KEY_ROLLED: /rolled/i,
  API_KEY_OWNER_INACTIVE: /not valid/i,
};

async function authFailures(keyId: string | null) {
  return auditRows(server, (r) => r.action === 'apikey.auth_failed' && (keyId === null ? r.resourceId === null : r.resourceId === keyId));
}

/**
 * The key is refused on the wire with 401, the given reason and a message that says it, and the
 * refusal is audited (apikey.auth_failed, with the key's id when the key is known).
 */
async function expectKeyRefused(key: string, reason: string, keyId: string | null) {
  const before = (await authFailures(keyId)).length;
  const res = await rawCall(server, 'apiKeys.list', 'query', { headers: { 'x-api-key': key } });
  expect(res.status, reason).toBe(401);
  expect(res.error?.data, reason).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401, reason });
  expect(res.error?.message, reason).toMatch(MESSAGES[reason] as RegExp);
  const after = await authFailures(keyId);
  expect(after.length, reason).toBe(before + 1);
  const row = after.at(-1);
  expect(row?.outcome).toBe('denied');
  expect(row?.details).toMatchObject({ reason: reason.replace(/^API_KEY_/, '') });
  // The presented secret is not written down, even for a refused key.
  const secret = API_KEY_FORMAT.exec(key)?.[2];
  if (secret) expect(JSON.stringify(after)).not.toContain(secret);
  return res;
}

describe('apiKeys.create', () => {
  it('returns the key once as tvk_<prefix>_<secret> (256-bit secret) and stores only its SHA-256 hash', async () => {
    const { user, session } = await signedIn('trader');
    const created = await session.client.apiKeys.create.mutate({ name: 'backtest runner', permissions: ['trading.view', 'bots.read'] });
    const other = await session.client.apiKeys.create.mutate({ name: 'second', permissions: ['trading.view'] });

    expect(created.key).toMatch(API_KEY_FORMAT);
    const { prefix, secret } = splitKey(created.key);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(splitKey(other.key).prefix).not.toBe(prefix);
    expect(splitKey(other.key).secret).not.toBe(secret);
    expect(created.apiKey).toMatchObject({
      name: 'backtest runner',
      prefix: `tvk_${prefix}`,
      ownerId: user.id,
      permissions: ['trading.view', 'bots.read'],
      rateLimitPerMinute: null,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      status: 'active',
    });
    expect(JSON.stringify(created.apiKey)).not.toContain(secret);

    // The row: prefix, hash, owner, permissions, creation time; never the secret.
    const row = await apiKeyRow(server, created.apiKey.id);
    expect(row).toMatchObject({ userId: user.id, prefix, name: 'backtest runner', permissions: ['trading.view', 'bots.read'], expiresAt: null, lastUsedAt: null });
    expect(row.secretHash).toBe(sha256Hex(secret));
    expect(Math.abs(row.createdAt.getTime() - server.clock.now().getTime())).toBeLessThan(10_000);

    // Nowhere in the whole database, audit log included, is the secret or the full key.
    const dump = await dumpDatabase(server);
    expect(dump).toContain(sha256Hex(secret));
    for (const s of [secret, splitKey(other.key).secret]) expect(dump).not.toContain(s);
    expect(dump).not.toContain(created.key);
    const audit = await auditRows(server, (r) => r.action === 'apikey.created' && r.resourceId === created.apiKey.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actorId).toBe(user.id);
  });

  it('lists keys without any secret or hash', async () => {
    const { session } = await signedIn('trader');
    const a = await session.client.apiKeys.create.mutate({ name: 'list-a', permissions: ['trading.view'] });
    const b = await session.client.apiKeys.create.mutate({ name: 'list-b', permissions: ['bots.read'], rateLimit: 30 });
    const list = await session.client.apiKeys.list.query();
    expect(list.map((k) => k.name).sort()).toEqual(['list-a', 'list-b']);
    expect(list.find((k) => k.name === 'list-b')?.rateLimitPerMinute).toBe(30);

    const text = JSON.stringify(list);
    for (const created of [a, b]) {
      const { secret } = splitKey(created.key);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256Hex(secret));
    }
    for (const entry of list) {
      expect(Object.keys(entry).sort()).toEqual(
        [
          'createdAt',
          'expiresAt',
          'id',
          'lastUsedAt',
          'name',
          'ownerEmail',
          'ownerId',
          'permissions',
          'prefix',
          'previousExpiresAt',
          'rateLimitPerMinute',
          'revokedAt',
          'rolledAt',
          'status',
          'suspendedAt',
        ].sort(),
      );
    }
    // On the wire as well.
    const raw = await rawCall(server, 'apiKeys.list', 'query', { token: session.token });
    expect(raw.status).toBe(200);
    expect(raw.text).not.toMatch(/secret|hash/i);
    for (const created of [a, b]) expect(raw.text).not.toContain(splitKey(created.key).secret);
  });

  it('refuses permissions the owner does not have (PERMISSION_EXCEEDS_OWNER) and account.self on any key', async () => {
    const trader = await signedIn('trader');
    const admin = await signedIn('admin');
    const rowsBefore = (await apiKeyRows(server)).length;

    const beyond = await rejectionOf(trader.session.client.apiKeys.create.mutate({ name: 'escalate', permissions: ['trading.view', 'users.manage'] }));
    expect(errorData(beyond)).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'PERMISSION_EXCEEDS_OWNER', permission: 'users.manage' });

    for (const who of [trader, admin]) {
      const self = await rejectionOf(who.session.client.apiKeys.create.mutate({ name: 'self', permissions: ['account.self'] }));
      expect(errorData(self)).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
      const mixed = await rejectionOf(who.session.client.apiKeys.create.mutate({ name: 'mixed', permissions: ['trading.view', 'account.self'] }));
      expect(errorData(mixed)).toMatchObject({ code: 'BAD_REQUEST' });
    }

    const past = await rejectionOf(
      trader.session.client.apiKeys.create.mutate({
        name: 'stale',
        permissions: ['trading.view'],
        expiresAt: new Date(server.clock.now().getTime() - 1_000).toISOString(),
      }),
    );
    expect(errorData(past)).toMatchObject({ code: 'BAD_REQUEST' });

    // A viewer has no apikeys.manage at all.
    const viewer = await signedIn('viewer');
    const denied = await rejectionOf(viewer.session.client.apiKeys.create.mutate({ name: 'viewer key', permissions: ['trading.view'] }));
    expect(errorData(denied)).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_PERMISSION', permission: 'apikeys.manage' });

    expect((await apiKeyRows(server)).length).toBe(rowsBefore);

    // What the owner does have is accepted: the admin may put users.manage on a key.
    await expect(admin.session.client.apiKeys.create.mutate({ name: 'ops', permissions: ['users.manage', 'logs.view'] })).resolves.toMatchObject({
      apiKey: { permissions: ['users.manage', 'logs.view'] },
    });
  });

  it('does not let a key mint or roll keys: a leaked key cannot make itself permanent', async () => {
    const { session } = await signedIn('trader');
    const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'manager', permissions: ['apikeys.manage', 'trading.view'] });
    const viaKey = keyClient(server, key);
    const minted = await rejectionOf(viaKey.apiKeys.create.mutate({ name: 'copy', permissions: ['trading.view'] }));
    expect(errorData(minted)).toMatchObject({ code: 'FORBIDDEN', reason: 'SESSION_REQUIRED' });
    const rolled = await rejectionOf(viaKey.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 0 }));
    expect(errorData(rolled)).toMatchObject({ code: 'FORBIDDEN', reason: 'SESSION_REQUIRED' });
    // It can still read the keys, and give itself up.
    await expect(viaKey.apiKeys.list.query()).resolves.toHaveLength(1);
    await viaKey.apiKeys.revoke.mutate({ id: apiKey.id });
    expect(errorData(await rejectionOf(viaKey.apiKeys.list.query()))).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_REVOKED' });
  });
});

describe('authenticating with a key', () => {
  it('acts over HTTP with the key’s permissions only, never with the owner’s session rights', async () => {
    const admin = await signedIn('admin');
    const { key } = await admin.session.client.apiKeys.create.mutate({ name: 'reader', permissions: ['users.manage'] });
    const viaKey = keyClient(server, key);
    await expect(viaKey.users.list.query({ limit: 5 })).resolves.toMatchObject({ items: expect.any(Array) });

    // The owner may manage keys, but this key may not.
    const noManage = await rejectionOf(viaKey.apiKeys.list.query());
    expect(errorData(noManage)).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_PERMISSION', permission: 'apikeys.manage' });
    // A key has no session: account.self procedures are closed to it.
    const me = await rejectionOf(viaKey.auth.me.query());
    expect(errorData(me)).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403 });
    const sessions = await rejectionOf(viaKey.sessions.list.query());
    expect(errorData(sessions)).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('full flow: create → use over HTTP and WebSocket → revoke → 401 on both', async () => {
    const { user, session } = await signedIn('trader');
    const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'bot', permissions: ['apikeys.manage', 'trading.view'] });

    const http = keyClient(server, key);
    const overHttp = await http.apiKeys.list.query();
    expect(overHttp.map((k) => k.id)).toEqual([apiKey.id]);
    expect(overHttp[0]?.ownerId).toBe(user.id);

    const ws = keySocket(key);
    const overWs = await ws.trpc.apiKeys.list.query();
    expect(overWs.map((k) => k.id)).toEqual([apiKey.id]);

    const revoked = await session.client.apiKeys.revoke.mutate({ id: apiKey.id });
    expect(revoked).toMatchObject({ id: apiKey.id, status: 'revoked' });
    expect(revoked.revokedAt).not.toBeNull();
    expect(await auditRows(server, (r) => r.action === 'apikey.revoked' && r.resourceId === apiKey.id)).toHaveLength(1);

    // The very next call on each transport is refused: the socket opened before gets no pass.
    const httpErr = await rejectionOf(http.apiKeys.list.query());
    expect(errorData(httpErr)).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401, reason: 'API_KEY_REVOKED' });
    const wsErr = await rejectionOf(ws.trpc.apiKeys.list.query());
    expect(errorData(wsErr)).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_REVOKED' });
    // A new socket with the revoked key fares no better.
    const fresh = keySocket(key);
    expect(errorData(await rejectionOf(fresh.trpc.apiKeys.list.query()))).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_REVOKED' });

    await expectKeyRefused(key, 'API_KEY_REVOKED', apiKey.id);
    // The owner's own session is unaffected, and the list shows the key revoked.
    const list = await session.client.apiKeys.list.query();
    expect(list.find((k) => k.id === apiKey.id)?.status).toBe('revoked');
  });

  it('refuses malformed and unknown keys with 401 and a reason, audited', async () => {
    const { session } = await signedIn('trader');
    const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'real', permissions: ['apikeys.manage'] });
    const { prefix, secret } = splitKey(key);

    for (const bad of ['not-a-key', `tvk_${prefix}_${secret.slice(1)}`, `tvk_${prefix.toUpperCase()}_${secret}`, `xyz_${prefix}_${secret}`, 'tvk__']) {
      await expectKeyRefused(bad, 'API_KEY_MALFORMED', null);
    }
    // Well-formed but never issued.
    await expectKeyRefused(`tvk_zzzzzzzzzz_${'A'.repeat(43)}`, 'API_KEY_UNKNOWN', null);
    // The right prefix with a wrong secret: unknown, and audited against that key.
    const flipped = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    await expectKeyRefused(`tvk_${prefix}_${flipped}`, 'API_KEY_UNKNOWN', apiKey.id);
    // The real key still works.
    await expect(keyClient(server, key).apiKeys.list.query()).resolves.toHaveLength(1);
  });

  it('refuses an expired key (API_KEY_EXPIRED) once its expiry has passed', async () => {
    const { user, session } = await signedIn('trader');
    const expiresAt = new Date(server.clock.now().getTime() + 60_000).toISOString();
    const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'short-lived', permissions: ['apikeys.manage'], expiresAt });
    expect(apiKey.expiresAt).toBe(expiresAt);
    await expect(keyClient(server, key).apiKeys.list.query()).resolves.toHaveLength(1);

    server.clock.advance(61_000);
    await expectKeyRefused(key, 'API_KEY_EXPIRED', apiKey.id);
    const session2 = await signIn(server, user);
    expect((await session2.client.apiKeys.list.query()).find((k) => k.id === apiKey.id)?.status).toBe('expired');
    // An expired key cannot be brought back by rolling it.
    expect(errorData(await rejectionOf(session2.client.apiKeys.roll.mutate({ id: apiKey.id })))).toMatchObject({ code: 'PRECONDITION_FAILED' });
  });
});

describe('apiKeys.roll', () => {
  it('issues a new secret under the same prefix; the old one works for the grace period only', async () => {
    const { user, session } = await signedIn('trader');
    const { key: oldKey, apiKey } = await session.client.apiKeys.create.mutate({ name: 'rolling', permissions: ['apikeys.manage'] });
    const rowBefore = await apiKeyRow(server, apiKey.id);

    const rolled = await session.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 30 });
    expect(rolled.key).toMatch(API_KEY_FORMAT);
    expect(rolled.key).not.toBe(oldKey);
    expect(splitKey(rolled.key).prefix).toBe(splitKey(oldKey).prefix);
    expect(rolled.apiKey).toMatchObject({ id: apiKey.id, status: 'active' });
    expect(rolled.apiKey.rolledAt).not.toBeNull();
    expect(Date.parse(rolled.apiKey.previousExpiresAt as string)).toBe(Date.parse(rolled.apiKey.rolledAt as string) + 30_000);

    const row = await apiKeyRow(server, apiKey.id);
    expect(row.secretHash).toBe(sha256Hex(splitKey(rolled.key).secret));
    expect(row.previousSecretHash).toBe(rowBefore.secretHash);
    expect(await dumpDatabase(server)).not.toContain(splitKey(rolled.key).secret);
    expect(await auditRows(server, (r) => r.action === 'apikey.rolled' && r.resourceId === apiKey.id)).toHaveLength(1);

    // Within the grace period both secrets work.
    await expect(keyClient(server, oldKey).apiKeys.list.query()).resolves.toHaveLength(1);
    await expect(keyClient(server, rolled.key).apiKeys.list.query()).resolves.toHaveLength(1);
    server.clock.advance(29_000);
    await expect(keyClient(server, oldKey).apiKeys.list.query()).resolves.toHaveLength(1);

    // Past it, only the new one.
    server.clock.advance(2_000);
    await expectKeyRefused(oldKey, 'API_KEY_ROLLED', apiKey.id);
    await expect(keyClient(server, rolled.key).apiKeys.list.query()).resolves.toHaveLength(1);
    const session2 = await signIn(server, user);
    expect((await session2.client.apiKeys.list.query())[0]?.previousExpiresAt).toBeNull();
  });

  it('with no grace period ends the old secret at once, and says it was rolled', async () => {
    const { session } = await signedIn('trader');
    const { key: oldKey, apiKey } = await session.client.apiKeys.create.mutate({ name: 'roll-now', permissions: ['apikeys.manage'] });
    const rolled = await session.client.apiKeys.roll.mutate({ id: apiKey.id });
    expect(rolled.apiKey.previousExpiresAt).toBeNull();
    await expectKeyRefused(oldKey, 'API_KEY_ROLLED', apiKey.id);
    await expect(keyClient(server, rolled.key).apiKeys.list.query()).resolves.toHaveLength(1);
  });

  it('cannot roll a revoked key', async () => {
    const { session } = await signedIn('trader');
    const { apiKey } = await session.client.apiKeys.create.mutate({ name: 'gone', permissions: ['trading.view'] });
    await session.client.apiKeys.revoke.mutate({ id: apiKey.id });
    expect(errorData(await rejectionOf(session.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 60 })))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'API_KEY_REVOKED',
    });
  });
});

describe("the owner's rights, checked at every call", () => {
  it('a demoted owner’s key loses the rights at once, over HTTP and an open WebSocket; a disabled owner’s key is refused', async () => {
    const owner = await signedIn('admin');
    const other = await signedIn('admin');
    const { key, apiKey } = await owner.session.client.apiKeys.create.mutate({
      name: 'ops',
      permissions: ['users.manage', 'apikeys.manage', 'logs.view'],
    });
    const http = keyClient(server, key);
    const ws = keySocket(key);
    await expect(http.users.list.query({ limit: 1 })).resolves.toMatchObject({ items: expect.any(Array) });
    await expect(ws.trpc.users.list.query({ limit: 1 })).resolves.toMatchObject({ items: expect.any(Array) });

    await other.session.client.users.update.mutate({ id: owner.user.id, role: 'trader' });

    for (const call of [() => http.users.list.query({ limit: 1 }), () => ws.trpc.users.list.query({ limit: 1 })]) {
      expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_PERMISSION', permission: 'users.manage' });
    }
    // What a trader still has, the key keeps; the stored permissions are unchanged.
    await expect(http.apiKeys.list.query()).resolves.toHaveLength(1);
    await expect(ws.trpc.apiKeys.list.query()).resolves.toHaveLength(1);
    expect((await apiKeyRow(server, apiKey.id)).permissions).toEqual(['users.manage', 'apikeys.manage', 'logs.view']);
    const denied = await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === apiKey.id);
    expect(denied.length).toBeGreaterThanOrEqual(2);

    await other.session.client.users.update.mutate({ id: owner.user.id, status: 'disabled' });
    for (const call of [() => http.apiKeys.list.query(), () => ws.trpc.apiKeys.list.query()]) {
      expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_OWNER_INACTIVE' });
    }
    await expectKeyRefused(key, 'API_KEY_OWNER_INACTIVE', apiKey.id);

    // Rights follow the owner back: re-enabled and promoted, the key works in full again.
    await other.session.client.users.update.mutate({ id: owner.user.id, status: 'active', role: 'admin' });
    await expect(http.users.list.query({ limit: 1 })).resolves.toMatchObject({ items: expect.any(Array) });
  });
});

describe('ownership', () => {
  it("a trader cannot see, revoke or roll another user's keys (NOT_FOUND); an admin sees and revokes all", async () => {
    const alice = await signedIn('trader');
    const bob = await signedIn('trader');
    const admin = await signedIn('admin');
    const a = await alice.session.client.apiKeys.create.mutate({ name: 'alice-key', permissions: ['apikeys.manage'] });
    const b = await bob.session.client.apiKeys.create.mutate({ name: 'bob-key', permissions: ['apikeys.manage'] });

    expect((await alice.session.client.apiKeys.list.query()).map((k) => k.id)).toEqual([a.apiKey.id]);
    expect((await bob.session.client.apiKeys.list.query()).map((k) => k.id)).toEqual([b.apiKey.id]);
    // Through Alice's key as well.
    expect((await keyClient(server, a.key).apiKeys.list.query()).map((k) => k.id)).toEqual([a.apiKey.id]);

    const viaAlicesKey = keyClient(server, a.key);
    for (const call of [
      () => alice.session.client.apiKeys.revoke.mutate({ id: b.apiKey.id }),
      () => alice.session.client.apiKeys.roll.mutate({ id: b.apiKey.id, graceSeconds: 60 }),
      () => viaAlicesKey.apiKeys.revoke.mutate({ id: b.apiKey.id }),
    ]) {
      expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    }
    // Bob's key is untouched.
    const bobRow = await apiKeyRow(server, b.apiKey.id);
    expect(bobRow).toMatchObject({ revokedAt: null, rolledAt: null, previousSecretHash: null });
    await expect(keyClient(server, b.key).apiKeys.list.query()).resolves.toHaveLength(1);

    const all = await admin.session.client.apiKeys.list.query();
    expect(all.map((k) => k.id)).toEqual(expect.arrayContaining([a.apiKey.id, b.apiKey.id]));
    expect(all.find((k) => k.id === b.apiKey.id)).toMatchObject({ ownerId: bob.user.id, ownerEmail: bob.user.email });
    await expect(admin.session.client.apiKeys.revoke.mutate({ id: b.apiKey.id })).resolves.toMatchObject({ status: 'revoked' });
    await expectKeyRefused(b.key, 'API_KEY_REVOKED', b.apiKey.id);
    const revokedAudit = await auditRows(server, (r) => r.action === 'apikey.revoked' && r.resourceId === b.apiKey.id);
    expect(revokedAudit.map((r) => r.actorId)).toEqual([admin.user.id]);
  });
});

describe('last use', () => {
  it('is recorded in the background, not by a write per call, and set once the tracker flushes', async () => {
    const { session } = await signedIn('trader');
    const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'tracked', permissions: ['apikeys.manage'] });
    const client = keyClient(server, key);
    await client.apiKeys.list.query();
    const usedAt = server.clock.now().getTime();
    await client.apiKeys.list.query();
    // Calls returned, yet nothing was written for them.
    expect((await apiKeyRow(server, apiKey.id)).lastUsedAt).toBeNull();

    await server.app.deps.apiKeyUsage.flush();
    const lastUsed = (await apiKeyRow(server, apiKey.id)).lastUsedAt;
    expect(lastUsed).not.toBeNull();
    expect(Math.abs((lastUsed as Date).getTime() - usedAt)).toBeLessThan(5_000);
    expect((await session.client.apiKeys.list.query())[0]?.lastUsedAt).toBe((lastUsed as Date).toISOString());
  });

  it('is written when the server closes', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    try {
      const own = await startTestServer({ databaseUrl: fresh.url });
      let keyId: string;
      try {
        const user = await seedUser(own, 'trader');
        const session = await signIn(own, user);
        const { key, apiKey } = await session.client.apiKeys.create.mutate({ name: 'closing', permissions: ['apikeys.manage'] });
        keyId = apiKey.id;
        await keyClient(own, key).apiKeys.list.query();
        expect((await apiKeyRow(own, apiKey.id)).lastUsedAt).toBeNull();
      } finally {
        await own.close();
      }
      const sql = postgres(fresh.url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ last_used_at: Date | null }[]>`select last_used_at from api_keys where id = ${keyId}`;
        expect(rows).toHaveLength(1);
        expect(rows[0]?.last_used_at).toBeInstanceOf(Date);
      } finally {
        await sql.end();
      }
    } finally {
      await fresh.drop();
    }
  });
});
