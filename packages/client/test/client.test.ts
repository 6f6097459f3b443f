/**
 * The typed client against a real server: an API key over HTTP (x-api-key) and WebSocket
 * (connectionParams.apiKey), a signed-in user through getAccessToken, rate limits surfacing as
 * RateLimitedError, queries (never mutations) retried after network errors, compile-time errors
 * for wrong calls, and a browser bundle with no server code in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TRPCClientError } from '@trpc/client';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createTapeVisionClient,
  isRateLimited,
  isTapeVisionError,
  RateLimitedError,
  type RouterOutputs,
  type TapeVisionClient,
  type TapeVisionError,
} from '@tapevision/client';
// The browser entry (the package's default export condition), imported as a browser would get it.
import { createTapeVisionClient as createBrowserClient } from '../src/index.ts';
import { startTestServer, type TestServer } from '../../../apps/server/test/support/server.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from '../../../apps/server/test/support/users.ts';

const clientDir = fileURLToPath(new URL('..', import.meta.url));

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

// Every client and proxy a test opens is closed after it.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn().catch(() => undefined)));
});

function client(options: Parameters<typeof createTapeVisionClient>[0]): TapeVisionClient {
  const tv = createTapeVisionClient(options);
  cleanups.push(() => tv.close());
  return tv;
}

async function signedIn(target: TestServer, role: SeededUser['role']): Promise<{ user: SeededUser; session: SignedIn }> {
  const user = await seedUser(target, role);
  return { user, session: await signIn(target, user) };
}

/** A trader with a fresh key (apikeys.manage only, unless told otherwise). */
async function traderWithKey(
  target: TestServer = server,
  input: Partial<{ name: string; permissions: ('apikeys.manage' | 'trading.view')[]; rateLimit: number }> = {},
) {
  const { user, session } = await signedIn(target, 'trader');
  const created = await session.client.apiKeys.create.mutate({
    name: input.name ?? `svc-${Math.random().toString(36).slice(2, 8)}`,
    permissions: input.permissions ?? ['apikeys.manage'],
    ...(input.rateLimit ? { rateLimit: input.rateLimit } : {}),
  });
  return { user, session, key: created.key, apiKey: created.apiKey };
}

/** Runs a call that must fail; returns what it rejected with. */
async function rejectionOf(promise: Promise<unknown>): Promise<TapeVisionError> {
  try {
    await promise;
  } catch (err) {
    if (isTapeVisionError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Subscribes and resolves with the first error (or fails after 5 s). */
function subscriptionError(tv: TapeVisionClient): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the subscription was not refused')), 5_000);
    tv.sessions.onEvent.subscribe(undefined, {
      onData: () => reject(new Error('the subscription yielded data')),
      onError: (err) => {
        clearTimeout(timer);
        resolve(err);
      },
    });
  });
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Counts the WebSocket upgrades a server accepts from now on. */
function countUpgrades(target: TestServer): { readonly count: number } {
  let count = 0;
  const onUpgrade = () => {
    count += 1;
  };
  target.app.server.on('upgrade', onUpgrade);
  cleanups.push(async () => target.app.server.off('upgrade', onUpgrade));
  return {
    get count() {
      return count;
    },
  };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

type ProxyAction = 'forward' | 'reset' | 'lose-answer' | 'hang';

/**
 * An HTTP proxy in front of the server that fails requests on purpose: `reset` drops the
 * connection before the server sees the request, `lose-answer` lets the server handle it and then
 * drops the connection instead of answering, `hang` never answers. Records each request's tRPC path.
 */
function testProxy(target: TestServer, plan: (n: number) => ProxyAction) {
  const requests: string[] = [];
  const proxy = http.createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://proxy').pathname.replace(/^\/trpc\//, ''));
    const action = plan(requests.length);
    if (action === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action === 'hang') return;
    const upstream = http.request(`${target.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      if (action === 'lose-answer') {
        answer.resume();
        answer.once('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });
  cleanups.push(
    () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(resolve);
      }),
  );
  return {
    requests,
    listen: (port = 0) =>
      new Promise<string>((resolve, reject) => {
        proxy.once('error', reject);
        proxy.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`));
      }),
  };
}

describe('with an API key', () => {
  it('a revoked key’s open subscription ends with a typed UNAUTHORIZED (API_KEY_REVOKED), not silence', async () => {
    const { session, key, apiKey } = await traderWithKey(server, { permissions: ['trading.view'] });
    const tv = client({ url: server.url, apiKey: key });
    let started = false;
    const ended = new Promise<unknown>((resolve) => {
      const sub = tv.trading.onOrder.subscribe(undefined, {
        onStarted: () => {
          started = true;
        },
        onError: resolve,
      });
      cleanups.push(async () => sub.unsubscribe());
    });
    await waitFor(() => started, 'the subscription to start');

    await session.client.apiKeys.revoke.mutate({ id: apiKey.id });
    // The server closes the socket (4001), the client reconnects at once and the resubscription is refused.
    const err = await Promise.race([ended, sleep(5_000).then(() => 'the subscription went on after the key was revoked')]);
    expect(isTapeVisionError(err)).toBe(true);
    expect((err as TapeVisionError).data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_REVOKED' });
  });

  it('calls a query over HTTP, typed end to end', async () => {
    const { user, key, apiKey } = await traderWithKey();
    const tv = client({ url: server.url, apiKey: key });

    const keys = await tv.apiKeys.list.query();
    expectTypeOf(keys).toEqualTypeOf<RouterOutputs['apiKeys']['list']>();
    expect(keys.map((k) => k.id)).toEqual([apiKey.id]);
    expect(keys[0]).toMatchObject({ prefix: apiKey.prefix, ownerId: user.id, permissions: ['apikeys.manage'], status: 'active' });
    // The secret is never given back.
    // (The secret is everything after the prefix: base64url, so it may itself hold '_'.)
    const secret = key.replace(/^tvk_[a-z0-9]+_/, '');
    expect(secret.length).toBeGreaterThanOrEqual(40);
    expect(JSON.stringify(keys)).not.toContain(secret);
    // A trailing slash on the URL is fine.
    await expect(client({ url: `${server.url}/`, apiKey: key }).apiKeys.list.query()).resolves.toHaveLength(1);
  });

  it('opens the WebSocket with the key: a key-only socket is authenticated, and a session-only subscription is refused with a typed error', async () => {
    // No procedure streams anything to a key yet (sessions.onEvent needs account.self, which a key
    // never carries), so the proof is in the refusal: FORBIDDEN for a missing permission is what
    // an authenticated key gets; an unauthenticated socket would be UNAUTHORIZED.
    const { key } = await traderWithKey();
    const upgrades = countUpgrades(server);
    const tv = client({ url: server.url, apiKey: key });

    const err = await subscriptionError(tv);
    expect(upgrades.count).toBe(1);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(isTapeVisionError(err)).toBe(true);
    if (!isTapeVisionError(err)) return;
    expectTypeOf(err.data).toEqualTypeOf<TapeVisionError['data']>();
    expect(err.data).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'MISSING_PERMISSION', permission: 'account.self' });
    expect(err.message).toBe('Missing permission: account.self');
    expect(isRateLimited(err)).toBe(false);

    // A well-formed key the server does not know: the same socket route says UNAUTHORIZED.
    const unknown = client({ url: server.url, apiKey: `tvk_${'a'.repeat(10)}_${'A'.repeat(43)}` });
    const refused = await subscriptionError(unknown);
    expect(isTapeVisionError(refused) && refused.data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_UNKNOWN' });
  });

  it('reports a revoked key as UNAUTHORIZED with the reason, and does not retry it', async () => {
    const { session, key, apiKey } = await traderWithKey();
    const tv = client({ url: server.url, apiKey: key });
    await expect(tv.apiKeys.list.query()).resolves.toHaveLength(1);
    await session.client.apiKeys.revoke.mutate({ id: apiKey.id });

    const proxy = testProxy(server, () => 'forward');
    const viaProxy = client({ url: await proxy.listen(), apiKey: key });
    const err = await rejectionOf(viaProxy.apiKeys.list.query());
    expect(err.data).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401, reason: 'API_KEY_REVOKED' });
    expect(err.message).toBe('The API key has been revoked');
    expect(proxy.requests).toEqual(['apiKeys.list']);
  });

  it('the browser entry uses the global WebSocket, and says so when there is none', async () => {
    const { key } = await traderWithKey();
    // Node 20 has no global WebSocket: queries work, a subscription explains what is missing.
    const bare = createBrowserClient({ url: server.url, apiKey: key });
    cleanups.push(() => bare.close());
    await expect(bare.apiKeys.list.query()).resolves.toHaveLength(1);
    if (typeof globalThis.WebSocket === 'undefined') {
      const err = await subscriptionError(bare as TapeVisionClient);
      expect((err as Error).message).toMatch(/WebSocket implementation/);
    }

    // Given one (as a browser has), subscriptions go over it.
    const { default: WebSocket } = await import('ws');
    const upgrades = countUpgrades(server);
    const withWs = createBrowserClient({ url: server.url, apiKey: key, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
    cleanups.push(() => withWs.close());
    const err = await subscriptionError(withWs as TapeVisionClient);
    expect(isTapeVisionError(err) && err.data).toMatchObject({ code: 'FORBIDDEN', permission: 'account.self' });
    expect(upgrades.count).toBe(1);
  });
});

describe('with an access token (getAccessToken)', () => {
  it('calls queries with the bearer token and streams sessions.onEvent: a new sign-in arrives as "created"', async () => {
    const { user, session } = await signedIn(server, 'trader');
    let asked = 0;
    const tv = client({
      url: server.url,
      getAccessToken: async () => {
        asked += 1;
        return session.token;
      },
    });

    const me = await tv.auth.me.query();
    expect(me.user.email).toBe(user.email);
    expect(me.permissions).toContain('apikeys.manage');

    const events: RouterOutputs['sessions']['onEvent'] extends AsyncIterable<infer E> ? E[] : never = [];
    const errors: unknown[] = [];
    let started = false;
    const sub = tv.sessions.onEvent.subscribe(undefined, {
      onStarted: () => {
        started = true;
      },
      onData: (event) => events.push(event),
      onError: (err) => errors.push(err),
    });
    cleanups.push(async () => sub.unsubscribe());
    await waitFor(() => started || errors.length > 0, 'the subscription to start');
    expect(errors).toEqual([]);

    const again = await signIn(server, user);
    await waitFor(() => events.some((e) => e.type === 'created'), 'a "created" event');
    const { sessionId } = await again.client.auth.me.query();
    expect(events.find((e) => e.type === 'created')).toMatchObject({ type: 'created', userId: user.id, sessionId });
    expect(events.every((e) => e.userId === user.id)).toBe(true);
    // Asked once for the query and once for the socket's connectionParams.
    expect(asked).toBeGreaterThanOrEqual(2);
  });

  it('sends no credentials when getAccessToken has none: UNAUTHORIZED', async () => {
    const tv = client({ url: server.url, getAccessToken: () => null });
    const err = await rejectionOf(tv.auth.me.query());
    expect(err.data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'UNAUTHENTICATED' });
  });
});

describe('rate limits', () => {
  it('a 429 rejects with RateLimitedError carrying retryAfterMs, and is not retried', async () => {
    const limited = await startTestServer({ rateLimits: { api: { points: 3, durationSeconds: 60 } } });
    cleanups.push(() => limited.close());
    // Sign-in spends the IP's budget and key creation the user's: the key starts with all 3 points.
    const { key } = await traderWithKey(limited);
    const tv = client({ url: limited.url, apiKey: key });
    for (let i = 0; i < 3; i += 1) await tv.apiKeys.list.query();

    let requests = 0;
    const onRequest = () => {
      requests += 1;
    };
    limited.app.server.on('request', onRequest);
    const err = await rejectionOf(tv.apiKeys.list.query());
    limited.app.server.off('request', onRequest);

    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(isRateLimited(err)).toBe(true);
    if (!isRateLimited(err)) return;
    expect(err.name).toBe('RateLimitedError');
    expect(err.policy).toBe('api');
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(err.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', httpStatus: 429, reason: 'RATE_LIMITED', retryAfterMs: err.retryAfterMs });
    expect(err.message).toMatch(/Rate limit exceeded \(api\)/);
    // The HTTP answer carried Retry-After, in whole seconds.
    const response = (err.meta as { response?: Response } | undefined)?.response;
    expect(Number(response?.headers.get('retry-after'))).toBe(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    expect(requests).toBe(1);
  });

  it("a key's own per-minute limit is a RateLimitedError too, naming the policy 'apikey'", async () => {
    const { key } = await traderWithKey(server, { rateLimit: 2 });
    const tv = client({ url: server.url, apiKey: key });
    await tv.apiKeys.list.query();
    await tv.apiKeys.list.query();
    const err = await rejectionOf(tv.apiKeys.list.query());
    expect(isRateLimited(err) && err.policy).toBe('apikey');
    expect(isRateLimited(err) && err.retryAfterMs).toBeGreaterThan(0);
  });
});

describe('retries', () => {
  it('retries a query while the server cannot be reached, and gets the answer once it can', async () => {
    // Nothing listens on the port at first; the proxy starts listening when the client comes
    // back for its retry (getAccessToken runs before every attempt), so no timing is guessed.
    const { session } = await signedIn(server, 'trader');
    const port = await freePort();
    const proxy = testProxy(server, () => 'forward');
    let attempts = 0;
    const tv = client({
      url: `http://127.0.0.1:${port}`,
      getAccessToken: async () => {
        attempts += 1;
        if (attempts === 2) await proxy.listen(port);
        return session.token;
      },
    });
    const me = await tv.auth.me.query();
    expect(me.user.id).toBe(session.login.user.id);
    expect(attempts).toBe(2);
    expect(proxy.requests).toEqual(['auth.me']);
  });

  it('retries a query whose connection was reset', async () => {
    const { key } = await traderWithKey();
    const proxy = testProxy(server, (n) => (n === 1 ? 'reset' : 'forward'));
    const tv = client({ url: await proxy.listen(), apiKey: key });
    await expect(tv.apiKeys.list.query()).resolves.toHaveLength(1);
    expect(proxy.requests).toEqual(['apiKeys.list', 'apiKeys.list']);
  });

  it('gives up after maxQueryRetries with the network error', async () => {
    const port = await freePort();
    let attempts = 0;
    const tv = client({
      url: `http://127.0.0.1:${port}`,
      maxQueryRetries: 1,
      getAccessToken: () => {
        attempts += 1;
        return 'not-a-token';
      },
    });
    const err = await rejectionOf(tv.auth.me.query());
    expect(err.data).toBeUndefined();
    expect(isRateLimited(err)).toBe(false);
    expect(attempts).toBe(2);
  });

  it('does not retry a query its caller cancelled', async () => {
    const { session } = await signedIn(server, 'trader');
    const proxy = testProxy(server, () => 'hang');
    const tv = client({ url: await proxy.listen(), getAccessToken: () => session.token });
    const controller = new AbortController();
    const call = tv.auth.me.query(undefined, { signal: controller.signal });
    await waitFor(() => proxy.requests.length === 1, 'the request to arrive');
    const abortedAt = Date.now();
    controller.abort();
    const err = await rejectionOf(call);
    // Retried, the abort would surface only after the whole backoff (0.4 + 0.8 + 1.6 s).
    expect(Date.now() - abortedAt).toBeLessThan(1_500);
    expect(err.data).toBeUndefined();
    expect(proxy.requests).toEqual(['auth.me']);
  });

  it('never retries a mutation: a create whose answer was lost is not sent twice', async () => {
    // Minting keys needs a signed-in session, so this service acts with the trader's token.
    const { session } = await traderWithKey();
    const proxy = testProxy(server, () => 'lose-answer');
    const tv = client({ url: await proxy.listen(), getAccessToken: () => session.token });

    const err = await rejectionOf(tv.apiKeys.create.mutate({ name: 'made-by-a-service', permissions: ['apikeys.manage'] }));
    expect(err.data).toBeUndefined();
    expect(proxy.requests).toEqual(['apiKeys.create']);
    // The server did create it, exactly once: a retry would have made a second key.
    const keys = await session.client.apiKeys.list.query();
    expect(keys.filter((k) => k.name === 'made-by-a-service')).toHaveLength(1);
  });
});

describe('types', () => {
  it('rejects wrong procedure names, inputs and options at compile time (checked by `pnpm typecheck`)', () => {
    const tv = createTapeVisionClient({ url: 'http://127.0.0.1:9', apiKey: 'tvk_x' });
    // Never called: only the compiler looks inside.
    const wrongCalls = async () => {
      // @ts-expect-error no such procedure
      await tv.apiKeys.lst.query();
      // @ts-expect-error no such router
      await tv.orders.list.query();
      // @ts-expect-error apiKeys.create needs permissions
      await tv.apiKeys.create.mutate({ name: 'svc' });
      // @ts-expect-error not a permission
      await tv.apiKeys.create.mutate({ name: 'svc', permissions: ['root'] });
      // @ts-expect-error rateLimit is a number of requests per minute
      await tv.apiKeys.create.mutate({ name: 'svc', permissions: ['trading.view'], rateLimit: '10' });
      // @ts-expect-error apiKeys.list is a query, not a mutation
      await tv.apiKeys.list.mutate();
      // @ts-expect-error revoke takes { id }
      await tv.apiKeys.revoke.mutate('5d0c1c8e-1f7b-4b5e-9a8e-2f0f3a4b5c6d');
      // @ts-expect-error either apiKey or getAccessToken
      createTapeVisionClient({ url: 'http://127.0.0.1:9' });
      // @ts-expect-error no such field on a key
      (await tv.apiKeys.list.query())[0]?.secret;
    };
    expect(typeof wrongCalls).toBe('function');

    type Key = RouterOutputs['apiKeys']['list'][number];
    expectTypeOf<Key['status']>().toEqualTypeOf<'active' | 'expired' | 'revoked'>();
    expectTypeOf<Key['expiresAt']>().toEqualTypeOf<string | null>();
    expectTypeOf(tv.apiKeys.create.mutate).parameter(0).toHaveProperty('permissions');
    expectTypeOf<RateLimitedError['retryAfterMs']>().toEqualTypeOf<number>();
    void tv.close();
  });
});

describe('bundle', () => {
  const SERVER_PACKAGES = /^(@tapevision\/(api|db|server)|@trpc\/server$|drizzle-orm|argon2|postgres|pino|jose|ioredis|rate-limiter-flexible|@electric-sql\/)/;

  it('imports the server only as types: no runtime import of @tapevision/api or a server package', () => {
    const srcDir = path.join(clientDir, 'src');
    const files = readdirSync(srcDir).filter((f) => f.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['create-client.ts', 'errors.ts', 'index.ts', 'node.ts']));
    const allowed = new Set(['@trpc/client', '@trpc/server/observable']);
    for (const file of files) {
      const text = readFileSync(path.join(srcDir, file), 'utf8');
      // Every import/export … from '…' statement, and bare imports.
      const statements = [...text.matchAll(/^(import|export)\b([^;]*?)\bfrom\s+['"]([^'"]+)['"]/gms), ...text.matchAll(/^import\s+['"]([^'"]+)['"]/gm)];
      expect(statements.length, file).toBeGreaterThan(0);
      for (const m of statements) {
        const specifier = (m[3] ?? m[1]) as string;
        // With verbatimModuleSyntax only `import type` / `export type` vanish at build time:
        // `import { type X }` would still load the module.
        const typeOnly = m[3] !== undefined && /^\s*type\b/.test(m[2] ?? '');
        if (typeOnly || specifier.startsWith('./')) continue;
        const ok = allowed.has(specifier) || (file === 'node.ts' && specifier === 'ws');
        expect(ok, `${file}: runtime import of '${specifier}'`).toBe(true);
        expect(SERVER_PACKAGES.test(specifier), `${file}: '${specifier}' is server code`).toBe(false);
      }
    }
  });

  it('bundles for the browser without server code, Node built-ins or `ws`', async () => {
    const output = await build({
      configFile: false,
      root: clientDir,
      logLevel: 'silent',
      build: {
        write: false,
        minify: false,
        lib: { entry: path.join(clientDir, 'src/index.ts'), formats: ['es'], fileName: 'client' },
      },
    });
    const chunks = (Array.isArray(output) ? output : [output]).flatMap((o) => ('output' in o ? o.output : []));
    const code = chunks.map((c) => ('code' in c ? c.code : '')).join('\n');
    expect(code).toContain('createTapeVisionClient');
    // Everything is bundled: nothing left to import at run time.
    expect(code).not.toMatch(/^\s*import\s.*from\s/m);
    for (const marker of ['node:', 'Sec-WebSocket', 'drizzle', 'argon2', 'createHash', 'appRouter', 'pglite']) {
      expect(code, marker).not.toContain(marker);
    }
    expect(code.length).toBeLessThan(150_000);
  });
});
