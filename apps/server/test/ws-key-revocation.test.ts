/**
 * Revocation reaches open streams: a WebSocket opened with an API key is owned by that key, and
 * its subscriptions end within 1 s when the key is revoked, rolled without grace (or its grace
 * ends), expires, or its owner is disabled or loses a right the socket was opened with; on the
 * process that made the change and on a second process, which hears of it over the bus.
 * users.revokeAccess ends everything a user holds (sessions, keys, sockets) at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE_REVOKED, WS_CLOSE_RIGHTS_CHANGED } from '@tapevision/api';
import { startCluster, type Cluster } from './support/cluster.ts';
import { rawCall } from './support/probe.ts';
import { authedRawSocket, type RawSocket } from './support/raw-ws.ts';
import { sessionRow, sidOf } from './support/session-helpers.ts';
import { loginFrom, uniqueIp } from './support/rate-limits.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword } from './support/users.ts';

interface Node {
  trpcUrl: string;
  wsUrl: string;
}

type Role = 'admin' | 'trader' | 'viewer';

interface Harness {
  /** Where the sockets are opened. */
  socketNode: Node;
  /** Where the changes are made (the same process, or the other one). */
  changeNode: Node;
  adminToken: string;
}

function data<T>(result: { status: number; text: string; json: unknown }): T {
  if (result.status !== 200) throw new Error(`call failed (${result.status}): ${result.text}`);
  return (result.json as { result: { data: T } }).result.data;
}

async function person(h: Harness, role: Role) {
  const email = `stream-${role}-${Math.random().toString(36).slice(2, 10)}@desk.example`;
  const password = strongPassword();
  const { user } = data<{ user: { id: string } }>(
    await rawCall(h.changeNode, 'users.create', 'mutation', { token: h.adminToken, input: { email, role, password, mustChangePassword: false } }),
  );
  const token = await loginFrom(h.changeNode, { email, password }, uniqueIp());
  return { id: user.id, email, password, token };
}

async function keyOf(h: Harness, token: string, permissions: string[], expiresAt?: Date) {
  return data<{ key: string; apiKey: { id: string } }>(
    await rawCall(h.changeNode, 'apiKeys.create', 'mutation', {
      token,
      input: { name: 'streamer', permissions, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}) },
    }),
  );
}

/** A key-authenticated socket with a live trading.onOrder subscription. */
async function keyStream(node: Node, key: string): Promise<RawSocket> {
  const socket = await authedRawSocket(node, { apiKey: key }, 'market.lastPrices');
  socket.call('orders', 'trading.onOrder', undefined, 'subscription');
  expect((await socket.first('orders')).result?.type).toBe('started');
  return socket;
}

/** The server ended the socket, with `code`, within 1 s of `since`. */
async function expectEnded(socket: RawSocket, since: number, code: number = WS_CLOSE_REVOKED) {
  const closed = await Promise.race([socket.closed, new Promise<null>((r) => setTimeout(() => r(null), 3_000))]);
  expect(closed, 'the socket was not closed').not.toBeNull();
  expect(closed?.code).toBe(code);
  expect((closed?.at ?? Infinity) - since).toBeLessThan(1_000);
}

async function expectOpen(socket: RawSocket, ms = 600) {
  await new Promise((r) => setTimeout(r, ms));
  expect(socket.isClosed).toBe(false);
  socket.call('still', 'market.lastPrices');
  expect((await socket.answer('still')).result?.type).toBe('data');
}

function streamTests(harness: () => Harness) {
  const open: RawSocket[] = [];
  const stream = async (key: string) => {
    const s = await keyStream(harness().socketNode, key);
    open.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
  });

  it('apiKeys.revoke ends the key’s streams; another key’s stream stays', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const revoked = await keyOf(h, owner.token, ['trading.view']);
    const kept = await keyOf(h, owner.token, ['trading.view']);
    const [s1, s2, other] = [await stream(revoked.key), await stream(revoked.key), await stream(kept.key)];

    data(await rawCall(h.changeNode, 'apiKeys.revoke', 'mutation', { token: owner.token, input: { id: revoked.apiKey.id } }));
    const since = Date.now();
    await expectEnded(s1, since);
    await expectEnded(s2, since);
    await expectOpen(other);
  });

  it('apiKeys.roll with graceSeconds 0 ends the old secret’s streams at once', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const made = await keyOf(h, owner.token, ['trading.view']);
    const s = await stream(made.key);

    const { key: successor } = data<{ key: string }>(
      await rawCall(h.changeNode, 'apiKeys.roll', 'mutation', { token: owner.token, input: { id: made.apiKey.id, graceSeconds: 0 } }),
    );
    const since = Date.now();
    await expectEnded(s, since);
    // The new secret streams.
    await expectOpen(await stream(successor), 0);
  });

  it('a roll with grace: old-secret streams (opened before or during it) end when the grace ends, new ones stay', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const made = await keyOf(h, owner.token, ['trading.view']);
    const before = await stream(made.key);
    const { key: successor } = data<{ key: string }>(
      await rawCall(h.changeNode, 'apiKeys.roll', 'mutation', { token: owner.token, input: { id: made.apiKey.id, graceSeconds: 2 } }),
    );
    const graceEnds = Date.now() + 2_000;
    const during = await stream(made.key);
    const fresh = await stream(successor);
    expect(before.isClosed).toBe(false);

    await new Promise((r) => setTimeout(r, Math.max(0, graceEnds - Date.now() - 300)));
    expect(before.isClosed).toBe(false);
    expect(during.isClosed).toBe(false);
    await expectEnded(before, graceEnds);
    await expectEnded(during, graceEnds);
    await expectOpen(fresh, 0);
  });

  it('a key’s expiry ends its streams when it falls, without any call', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const expiresAt = new Date(Date.now() + 2_500);
    const made = await keyOf(h, owner.token, ['trading.view'], expiresAt);
    const s = await stream(made.key);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(s.isClosed).toBe(false);
    await expectEnded(s, expiresAt.getTime());
  });

  it('disabling the owner ends their keys’ streams', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const made = await keyOf(h, owner.token, ['trading.view']);
    const s = await stream(made.key);

    data(await rawCall(h.changeNode, 'users.update', 'mutation', { token: h.adminToken, input: { id: owner.id, status: 'disabled' } }));
    await expectEnded(s, Date.now());
  });

  it('demoting the owner ends the streams opened with a right the new role lacks (accounts.view), not the others', async () => {
    const h = harness();
    const owner = await person(h, 'admin');
    const wide = await keyOf(h, owner.token, ['trading.view', 'accounts.view']);
    const narrow = await keyOf(h, owner.token, ['trading.view']);
    const [sWide, sNarrow] = [await stream(wide.key), await stream(narrow.key)];

    data(await rawCall(h.changeNode, 'users.update', 'mutation', { token: h.adminToken, input: { id: owner.id, role: 'trader' } }));
    await expectEnded(sWide, Date.now(), WS_CLOSE_RIGHTS_CHANGED);
    await expectOpen(sNarrow);
    // Reconnecting works, now with the trader's rights: own orders only.
    await expectOpen(await stream(wide.key), 0);
  });

  it('users.revokeAccess ends the user’s sessions, keys and sockets, with one HIGH audit row', async () => {
    const h = harness();
    const owner = await person(h, 'trader');
    const other = await person(h, 'trader');
    const k1 = await keyOf(h, owner.token, ['trading.view']);
    const k2 = await keyOf(h, owner.token, ['trading.view']);
    const otherKey = await keyOf(h, other.token, ['trading.view']);
    const keyStreams = [await stream(k1.key), await stream(k2.key)];
    const sessionSocket = await authedRawSocket(h.socketNode, { accessToken: owner.token });
    open.push(sessionSocket);
    const bystander = await stream(otherKey.key);

    const result = data<{ sessions: number; apiKeys: number }>(
      await rawCall(h.changeNode, 'users.revokeAccess', 'mutation', { token: h.adminToken, input: { id: owner.id } }),
    );
    const since = Date.now();
    expect(result).toEqual({ sessions: 1, apiKeys: 2 });
    for (const s of keyStreams) await expectEnded(s, since);
    await expectEnded(sessionSocket, since);
    await expectOpen(bystander);

    // Nothing they held works any more, on either process.
    for (const node of [h.changeNode, h.socketNode]) {
      expect((await rawCall(node, 'auth.me', 'query', { token: owner.token })).status).toBe(401);
      for (const k of [k1, k2]) {
        const refused = await rawCall(node, 'market.lastPrices', 'query', { headers: { 'x-api-key': k.key } });
        expect(refused.status).toBe(401);
        expect(refused.error?.data?.reason).toBe('API_KEY_REVOKED');
      }
    }
    // Their password still signs them in afresh: this is not a reset.
    expect(await loginFrom(h.changeNode, owner, uniqueIp())).toBeTruthy();

    const audit = data<{ items: { action: string; severity: string; resourceId: string | null; details: Record<string, unknown> }[] }>(
      await rawCall(h.changeNode, 'audit.list', 'query', { token: h.adminToken, input: { action: 'user.access_revoked', limit: 50 } }),
    ).items.filter((r) => r.resourceId === owner.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ severity: 'HIGH', details: { sessionsEnded: 1, keysRevoked: 2 } });
    expect(JSON.stringify(audit[0])).not.toContain(k1.key);

    // An unknown user is NOT_FOUND and changes nothing; a trader may not call it.
    const unknown = await rawCall(h.changeNode, 'users.revokeAccess', 'mutation', { token: h.adminToken, input: { id: '00000000-0000-4000-8000-000000000000' } });
    expect(unknown.status).toBe(404);
    const forbidden = await rawCall(h.changeNode, 'users.revokeAccess', 'mutation', { token: other.token, input: { id: other.id } });
    expect(forbidden.status).toBe(403);
  });
}

describe('one server process', () => {
  let server: TestServer;
  let harness: Harness;
  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true });
    const email = `root-${Math.random().toString(36).slice(2, 8)}@desk.example`;
    const password = strongPassword();
    const { createUser } = await import('@tapevision/api');
    await createUser(server.app.deps, { email, role: 'admin', password, mustChangePassword: false }, null);
    harness = { socketNode: server, changeNode: server, adminToken: await loginFrom(server, { email, password }, uniqueIp()) };
  });
  afterAll(async () => {
    await server?.close();
  });
  streamTests(() => harness);
});

describe('two server processes: the change on one, the socket on the other', () => {
  let cluster: Cluster;
  let harness: Harness;
  beforeAll(async () => {
    cluster = await startCluster(2, { TRUST_PROXY: '1' });
    const [a, b] = cluster.nodes;
    if (!a || !b) throw new Error('two nodes expected');
    harness = { socketNode: b, changeNode: a, adminToken: await loginFrom(a, cluster.admin, uniqueIp()) };
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);
  streamTests(() => harness);
});

describe('session absolute expiry', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ security: { sessionAbsoluteMs: 6_000 } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('closes the session’s sockets when it falls, not at the next sweep (30 s)', async () => {
    const user = await seedUser(server, 'trader');
    const session = await signIn(server, user);
    const expiresAt = (await sessionRow(server, sidOf(session.token))).absoluteExpiresAt.getTime();
    const socket = await authedRawSocket(server, { accessToken: session.token });
    socket.call('orders', 'trading.onOrder', undefined, 'subscription');
    expect((await socket.first('orders')).result?.type).toBe('started');
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() - 800)));
    expect(socket.isClosed).toBe(false);
    await expectEnded(socket, expiresAt);
  });
});
