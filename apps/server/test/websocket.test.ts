import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '@tapevision/api';
import { errorData, httpClient, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  bearer,
  craftJwt,
  decodeJwt,
  expectRevokedClose,
  expectTokenRejected,
  loginForBody,
  openSocket,
  sleep,
  trackRawCloses,
  waitFor,
  type TrackedSocket,
} from './support/session-helpers.ts';
import { seedUser } from './support/users.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const opened: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((ws) => ws.close()));
});

function socket(token?: string | null): WsTestClient {
  const ws = wsClient(server, { token: token ?? null });
  opened.push(ws);
  return ws;
}

async function signedInSocket(token: string): Promise<TrackedSocket> {
  const ws = await openSocket(server, token);
  opened.push(ws);
  return ws;
}

/** Subscribes to sessions.onEvent and resolves once the server has started the subscription. */
async function watchSessionEvents(ws: WsTestClient) {
  const events: SessionEvent[] = [];
  const errors: unknown[] = [];
  let started = false;
  const sub = ws.trpc.sessions.onEvent.subscribe(undefined, {
    onStarted: () => {
      started = true;
    },
    onData: (event) => {
      events.push(event);
    },
    onError: (err) => {
      errors.push(err);
    },
  });
  await waitFor(() => started || errors.length > 0, 5_000, 'the subscription to start');
  if (errors.length) throw errors[0];
  // The generator attaches its bus listener as soon as it is first pulled; give it a moment.
  await sleep(50);
  return { events, errors, stop: () => sub.unsubscribe() };
}

describe('WebSocket authentication', () => {
  it('authenticates with connectionParams.accessToken and answers auth.me', async () => {
    const user = await seedUser(server, 'trader');
    const login = await loginForBody(server, user);
    const ws = await signedInSocket(login.accessToken);

    const overWs = await ws.trpc.auth.me.query();
    const overHttp = await bearer(server, login.accessToken).auth.me.query();
    expect(overWs).toEqual(overHttp);
    expect(overWs).toMatchObject({ sessionId: login.sessionId, role: 'trader', user: { id: user.id } });
    // Other procedures go through the same permission checks over the socket.
    const denied = await rejectionOf(ws.trpc.users.list.query());
    expect(errorData(denied)).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_PERMISSION' });
  });

  it('rejects a query and a subscription on a socket without a token as UNAUTHORIZED', async () => {
    const ws = socket(null);
    const query = await rejectionOf(ws.trpc.auth.me.query());
    expect(errorData(query).code).toBe('UNAUTHORIZED');

    const failure = new Promise<unknown>((resolve) => {
      const events: unknown[] = [];
      ws.trpc.sessions.onEvent.subscribe(undefined, {
        onData: (e) => events.push(e),
        onError: (err) => resolve(err),
      });
    });
    const err = await Promise.race([failure, sleep(5_000).then(() => new Error('subscription was not rejected'))]);
    expect(errorData(err).code).toBe('UNAUTHORIZED');
  });

  it('rejects forged, garbage, expired and revoked-session tokens', async () => {
    const user = await seedUser(server, 'trader');
    const login = await loginForBody(server, user);
    const { header, payload } = decodeJwt(login.accessToken);
    const forged = craftJwt(header, payload, randomBytes(32));
    const unsigned = craftJwt({ ...header, alg: 'none' }, payload, null);

    for (const token of [forged, unsigned, 'garbage']) {
      const err = await rejectionOf(socket(token).trpc.auth.me.query());
      expect(errorData(err).code, token).toBe('UNAUTHORIZED');
    }

    // A token for a session that has ended does not open a socket either.
    const ended = await loginForBody(server, user);
    await bearer(server, ended.accessToken).auth.logout.mutate();
    expect(errorData(await rejectionOf(socket(ended.accessToken).trpc.auth.me.query())).code).toBe('UNAUTHORIZED');

    // Nor does an expired one, though its session is alive.
    server.clock.advance(11 * 60_000);
    expect(errorData(await rejectionOf(socket(login.accessToken).trpc.auth.me.query())).code).toBe('UNAUTHORIZED');
    const renewed = await httpClient(server).auth.refresh.mutate({ refreshToken: login.refreshToken });
    await expect((await signedInSocket(renewed.accessToken)).trpc.auth.me.query()).resolves.toMatchObject({
      sessionId: login.sessionId,
    });
  });
});

describe('sessions.onEvent', () => {
  it("streams created and revoked events for the user's own sessions only", async () => {
    const [alice, bob] = await Promise.all([seedUser(server, 'trader'), seedUser(server, 'trader')]);
    const a1 = await loginForBody(server, alice);
    const bob1 = await loginForBody(server, bob);
    const ws = await signedInSocket(a1.accessToken);
    const watch = await watchSessionEvents(ws);

    // Bob signs in and out first; Alice's events come after, so had Bob's leaked they would be here.
    const bob2 = await loginForBody(server, bob);
    await expect(bearer(server, bob1.accessToken).sessions.revokeOthers.mutate()).resolves.toEqual({ revoked: 1 });
    await expectTokenRejected(server, bob2.accessToken);

    const a2 = await loginForBody(server, alice);
    await waitFor(() => watch.events.some((e) => e.sessionId === a2.sessionId), 2_000, 'the created event');
    await bearer(server, a1.accessToken).sessions.revoke.mutate({ sessionId: a2.sessionId });
    await waitFor(() => watch.events.some((e) => e.type === 'revoked'), 2_000, 'the revoked event');

    expect(watch.errors).toEqual([]);
    expect(watch.events).toEqual([
      { type: 'created', userId: alice.id, sessionId: a2.sessionId, reason: null, at: expect.any(String) },
      { type: 'revoked', userId: alice.id, sessionId: a2.sessionId, reason: 'revoked_by_user', at: expect.any(String) },
    ]);
    for (const e of watch.events) expect(new Date(e.at).toISOString()).toBe(e.at);
    expect(watch.events.some((e) => e.userId === bob.id)).toBe(false);
    watch.stop();
  });

  it('tells the subscriber its own session was revoked, then the socket closes with 4001 within a second', async () => {
    const user = await seedUser(server, 'viewer');
    const login = await loginForBody(server, user);
    const ws = await signedInSocket(login.accessToken);
    const watch = await watchSessionEvents(ws);

    await bearer(server, login.accessToken).auth.logout.mutate();
    const since = Date.now();

    const close = await expectRevokedClose(ws, since);
    const revoked = watch.events.find((e) => e.type === 'revoked');
    expect(revoked).toEqual({ type: 'revoked', userId: user.id, sessionId: login.sessionId, reason: 'logout', at: expect.any(String) });
    // The event arrived before the close, not lost with it.
    expect(watch.events).toHaveLength(1);
    expect(close.code).toBe(4001);
  });

  it('sees an eviction when a sign-in pushes out the least recently used session', async () => {
    const user = await seedUser(server, 'trader');
    const first = await loginForBody(server, user);
    server.clock.advance(1_000);
    const rest = [];
    for (let i = 0; i < 4; i++) rest.push(await loginForBody(server, user));
    // Watch from the newest session; the first (least recently used) will be evicted.
    const newest = rest.at(-1)!;
    const ws = await signedInSocket(newest.accessToken);
    const firstWs = await signedInSocket(first.accessToken);
    const watch = await watchSessionEvents(ws);

    const sixth = await loginForBody(server, user);
    const since = Date.now();
    await waitFor(() => watch.events.length >= 2, 2_000, 'eviction and creation events');
    // Both in one NOTIFY round trip on Postgres, and in this order: the room made, then the session.
    expect(watch.events).toEqual([
      { type: 'revoked', userId: user.id, sessionId: first.sessionId, reason: 'evicted', at: expect.any(String) },
      { type: 'created', userId: user.id, sessionId: sixth.sessionId, reason: null, at: expect.any(String) },
    ]);
    await expectRevokedClose(firstWs, since);
    expect(ws.rawCloses).toEqual([]);
  });
});

describe('queries over a socket follow the session row', () => {
  let slow: TestServer;
  beforeAll(async () => {
    // Sockets of revoked sessions close only after 3 s here, so calls in between can be observed.
    slow = await startTestServer({ security: { wsRevokeCloseDelayMs: 3_000 } });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it("refuses calls on a revoked session's socket even before the socket is closed", async () => {
    const user = await seedUser(slow, 'trader');
    const login = await loginForBody(slow, user);
    const ws = wsClient(slow, { token: login.accessToken });
    opened.push(ws);
    await expect(ws.trpc.auth.me.query()).resolves.toMatchObject({ sessionId: login.sessionId });
    const tracked = trackRawCloses(ws);

    await httpClient(slow, { token: login.accessToken }).auth.logout.mutate();
    const err = await rejectionOf(ws.trpc.auth.me.query());
    expect(errorData(err).code).toBe('UNAUTHORIZED');
    expect(tracked.rawCloses).toEqual([]);
    await expectTokenRejected(slow, login.accessToken);
  });
});
