/**
 * WebSocket limits (ws-guard): messages per minute per connection, sustained abuse, frame size,
 * subscriptions per connection, connections per principal, and the authentication deadline.
 * Raw sockets speak tRPC's wire protocol by hand so each refusal and close code is visible.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openRawSocket, authedRawSocket, type RawSocket } from './support/raw-ws.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { loginForBody, sleep } from './support/session-helpers.ts';
import { seedUser, signIn } from './support/users.ts';

const LIMITS = {
  messagesPerMinute: 5,
  maxSubscriptions: 2,
  maxConnectionsPerPrincipal: 2,
  authTimeoutMs: 600,
  maxViolationsPerMinute: 3,
};
const MAX_PAYLOAD = 64 * 1024;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ wsLimits: LIMITS });
});
afterAll(async () => {
  await server?.close();
});

const sockets: RawSocket[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function track(socket: RawSocket): RawSocket {
  sockets.push(socket);
  return socket;
}

async function tokenFor(role: 'trader' | 'viewer' | 'admin' = 'trader') {
  const user = await seedUser(server, role);
  const login = await loginForBody(server, user);
  return { user, token: login.accessToken };
}

async function authed(token: string): Promise<RawSocket> {
  return track(await authedRawSocket(server, { accessToken: token }));
}

/** The socket is still open after `ms` and still answers a call. */
async function expectOpen(socket: RawSocket, id: string | number, ms = 300) {
  await sleep(ms);
  expect(socket.isClosed).toBe(false);
  socket.call(id, 'auth.me');
  expect((await socket.answer(id)).result?.type).toBe('data');
}

describe('messages per minute', () => {
  it('refuses the messages over the limit with WS_MESSAGE_RATE, and closes the connection (1008) on sustained abuse', async () => {
    const { user, token } = await tokenFor();
    const socket = await authed(token); // the probe is message 1 of 5

    for (let id = 1; id <= 4; id += 1) socket.call(id, 'auth.me');
    for (let id = 1; id <= 4; id += 1) {
      const answer = await socket.answer(id);
      expect(answer.result?.type, `message ${id}`).toBe('data');
      expect((answer.result?.data as { user: { id: string } }).user.id).toBe(user.id);
    }

    // Over the limit: each extra message gets its own error, and reaches no procedure.
    for (let id = 5; id <= 7; id += 1) socket.call(id, 'auth.me');
    for (let id = 5; id <= 7; id += 1) {
      const answer = await socket.answer(id);
      expect(answer.result, `message ${id}`).toBeUndefined();
      expect(answer.error?.data, `message ${id}`).toMatchObject({ code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'WS_MESSAGE_RATE' });
      expect(answer.error?.data?.retryAfterMs as number).toBeGreaterThan(0);
      expect(answer.error?.data?.retryAfterMs as number).toBeLessThanOrEqual(60_000);
    }
    expect(socket.messages.filter((m) => m.result?.type === 'data')).toHaveLength(5);
    // Three refusals (the allowance) do not close it yet...
    await sleep(200);
    expect(socket.isClosed).toBe(false);

    // ...the fourth within the minute does.
    socket.call(8, 'auth.me');
    const closed = await socket.closed;
    expect(closed.code).toBe(1008);
    expect(socket.messages.filter((m) => m.result?.type === 'data')).toHaveLength(5);

    // The limit is per connection: a new socket for the same user starts afresh.
    const next = await authed(token);
    await expectOpen(next, 'after', 0);
  });

  it('does not count heartbeats or the connection-params message', async () => {
    const { token } = await tokenFor();
    const socket = await authed(token); // 1
    for (let i = 0; i < 20; i += 1) socket.sendRaw('PING');
    for (let id = 1; id <= 4; id += 1) socket.call(id, 'auth.me');
    for (let id = 1; id <= 4; id += 1) expect((await socket.answer(id)).result?.type).toBe('data');
    expect(socket.messages.filter((m) => m.method === 'PONG').length).toBe(20);
    // The sixth counted message is the first refused.
    socket.call(5, 'auth.me');
    expect((await socket.answer(5)).error?.data?.reason).toBe('WS_MESSAGE_RATE');
  });

  it('charges each message of a frame that carries an array of them', async () => {
    const { token } = await tokenFor();
    const socket = await authed(token); // 1
    const call = (id: number) => ({ id, method: 'query', params: { path: 'auth.me' } });
    socket.send([call(1), call(2), call(3), call(4)]); // 2-5: the whole budget
    for (let id = 1; id <= 4; id += 1) expect((await socket.answer(id)).result?.type, `message ${id}`).toBe('data');
    socket.call(5, 'auth.me');
    expect((await socket.answer(5)).error?.data?.reason).toBe('WS_MESSAGE_RATE');

    // A fresh connection cannot spend one point on many calls either: the frame is refused whole.
    const other = await authed(token); // 1
    other.send(Array.from({ length: 10 }, (_, i) => call(100 + i)));
    for (let id = 100; id < 110; id += 1) expect((await other.answer(id)).error?.data?.reason, `message ${id}`).toBe('WS_MESSAGE_RATE');
    expect(other.messages.filter((m) => m.result?.type === 'data')).toHaveLength(1);
  });
});

describe('frame size', () => {
  it('closes the connection (1009) on a frame over 64 KiB; a large one under it is answered', async () => {
    const { token } = await tokenFor();
    const socket = await authed(token);
    // Just under the limit: a valid call padded to ~60 KiB is processed normally.
    const padded = JSON.stringify({ id: 'big', method: 'query', params: { path: 'auth.me', input: { pad: 'x'.repeat(60 * 1024) } } });
    expect(Buffer.byteLength(padded)).toBeLessThan(MAX_PAYLOAD);
    socket.sendRaw(padded);
    expect((await socket.answer('big')).result?.type).toBe('data');

    const oversize = JSON.stringify({ id: 'huge', method: 'query', params: { path: 'auth.me', input: { pad: 'x'.repeat(MAX_PAYLOAD) } } });
    expect(Buffer.byteLength(oversize)).toBeGreaterThan(MAX_PAYLOAD);
    socket.sendRaw(oversize);
    const closed = await socket.closed;
    expect(closed.code).toBe(1009);
    expect(socket.messages.some((m) => m.id === 'huge')).toBe(false);
  });
});

describe('subscriptions per connection', () => {
  it('refuses the subscription over the limit with WS_SUBSCRIPTION_LIMIT; stopping one frees its slot', async () => {
    const { token } = await tokenFor();
    const socket = await authed(token); // 1
    socket.call('s1', 'sessions.onEvent', undefined, 'subscription'); // 2
    socket.call('s2', 'sessions.onEvent', undefined, 'subscription'); // 3
    expect((await socket.first('s1')).result?.type).toBe('started');
    expect((await socket.first('s2')).result?.type).toBe('started');

    socket.call('s3', 'sessions.onEvent', undefined, 'subscription'); // 4
    const refused = await socket.first('s3');
    expect(refused.result).toBeUndefined();
    expect(refused.error?.data).toMatchObject({ code: 'FORBIDDEN', reason: 'WS_SUBSCRIPTION_LIMIT' });
    expect(refused.error?.message).toMatch(/2 subscriptions/);

    // The open ones are untouched; stopping one lets a new one start.
    socket.send({ id: 's1', method: 'subscription.stop' });
    expect((await socket.answer('s1')).result?.type).toBe('stopped');
    socket.call('s4', 'sessions.onEvent', undefined, 'subscription'); // 5
    expect((await socket.first('s4')).result?.type).toBe('started');
    expect(socket.isClosed).toBe(false);
  });
});

describe('connections per principal', () => {
  it('closes the connection over the per-user cap with 1008; the others stay, and a freed slot can be reused', async () => {
    const { token } = await tokenFor();
    const a = await authed(token);
    const b = await authed(token);
    const c = track(openRawSocket(server, { connectionParams: { accessToken: token } }));
    await c.opened;
    c.call('c', 'auth.me');
    const closed = await c.closed;
    expect(closed.code).toBe(1008);

    await expectOpen(a, 'a');
    await expectOpen(b, 'b');

    // Another user has a cap of their own.
    const other = await tokenFor();
    const d = await authed(other.token);
    await expectOpen(d, 'd', 0);

    // Closing one of the first two frees a slot.
    await a.close();
    await sleep(100);
    const e = await authed(token);
    await expectOpen(e, 'e', 0);
  });

  it('counts connections per API key too', async () => {
    const user = await seedUser(server, 'trader');
    const session = await signIn(server, user);
    const { key } = await session.client.apiKeys.create.mutate({ name: 'ws-cap', permissions: ['apikeys.manage'] });
    const first = track(await authedRawSocket(server, { apiKey: key }, 'apiKeys.list'));
    const second = track(await authedRawSocket(server, { apiKey: key }, 'apiKeys.list'));
    const third = track(openRawSocket(server, { connectionParams: { apiKey: key } }));
    expect((await third.closed).code).toBe(1008);
    for (const [i, s] of [first, second].entries()) {
      s.call(`k${i}`, 'apiKeys.list');
      expect((await s.answer(`k${i}`)).result?.type).toBe('data');
    }
    // The owner's own session is another principal: not counted against the key.
    const login = await loginForBody(server, user);
    await expectOpen(await authed(login.accessToken), 'owner', 0);
  });
});

describe('authentication deadline', () => {
  it('closes a connection that never authenticates with 1008 after authTimeoutMs', async () => {
    const silent = track(openRawSocket(server, { connectionParams: { accessToken: 'unused' }, sendParams: false }));
    const anonymous = track(openRawSocket(server));
    const badToken = track(openRawSocket(server, { connectionParams: { accessToken: 'not-a-jwt' } }));
    const badKey = track(openRawSocket(server, { connectionParams: { apiKey: `tvk_aaaaaaaaaa_${'A'.repeat(43)}` } }));
    const { token } = await tokenFor();
    const good = await authed(token);

    for (const s of [silent, anonymous, badToken, badKey]) {
      await s.opened;
      const closed = await s.closed;
      expect(closed.code).toBe(1008);
      const after = closed.at - s.openedAt;
      expect(after).toBeGreaterThanOrEqual(LIMITS.authTimeoutMs - 50);
      expect(after).toBeLessThan(LIMITS.authTimeoutMs + 3_000);
    }
    // An authenticated connection outlives the deadline.
    await expectOpen(good, 'good', Math.max(0, good.openedAt + LIMITS.authTimeoutMs + 300 - Date.now()));
  });
});
