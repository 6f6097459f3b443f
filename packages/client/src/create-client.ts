import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  retryLink,
  splitLink,
  TRPCClientError,
  wsLink,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from '@tapevision/api';
import { isNetworkError, RateLimitedError } from './errors.ts';

interface CommonOptions {
  /** The server's base URL, e.g. `http://localhost:3000` (the client adds `/trpc`). */
  url: string;
  /**
   * WebSocket implementation for subscriptions. Browsers have one; the Node entry point of this
   * package passes `ws` for you.
   */
  WebSocket?: typeof globalThis.WebSocket;
  /** How many times a query is retried after a network error (never mutations). Default 3. */
  maxQueryRetries?: number;
  /** Extra headers sent with every HTTP request. */
  headers?: Record<string, string>;
}

/** Authenticate as a service with an API key (`tvk_<prefix>_<secret>`). */
export interface ApiKeyOptions extends CommonOptions {
  apiKey: string;
}

/** Authenticate as a signed-in user; called before every request, so it may refresh. */
export interface AccessTokenOptions extends CommonOptions {
  getAccessToken: () => string | null | undefined | Promise<string | null | undefined>;
}

export type TapeVisionClientOptions = ApiKeyOptions | AccessTokenOptions;

/**
 * A fully typed client: `tv.apiKeys.list.query()`, `tv.apiKeys.create.mutate({ … })`,
 * `tv.sessions.onEvent.subscribe(undefined, { onData, onError })`. Procedure names, inputs and
 * outputs are checked at compile time against the server's router.
 */
export type TapeVisionClient = TRPCClient<AppRouter> & {
  /** Closes the WebSocket (if one was opened). Call it before a script exits. */
  close(): Promise<void>;
};

// Turns TOO_MANY_REQUESTS into a RateLimitedError that carries retryAfterMs.
function rateLimitLink(): TRPCLink<AppRouter> {
  return () =>
    ({ next, op }) =>
      observable((observer) =>
        next(op).subscribe({
          next: (value) => observer.next(value),
          complete: () => observer.complete(),
          error: (err) => {
            const code = (err.data as { code?: string } | undefined)?.code;
            observer.error(code === 'TOO_MANY_REQUESTS' ? new RateLimitedError(err) : err);
          },
        }),
      );
}

/**
 * Creates a typed Tape Vision client: queries and mutations go over HTTP (batched), subscriptions
 * over one WebSocket, opened when the first subscription starts and closed when the last ends.
 *
 * - Credentials: `apiKey` is sent as the `x-api-key` header (and as `connectionParams.apiKey` on
 *   the WebSocket); `getAccessToken` as `Authorization: Bearer …` (and `connectionParams.accessToken`).
 * - Retries: queries (never mutations, which may have taken effect) are retried with backoff
 *   (400 ms, 800 ms, 1.6 s…) after network errors, `maxQueryRetries` times. Answers from the
 *   server, errors included, are never retried.
 * - Errors: every call rejects with a {@link TapeVisionError}: `err.data.code` is the tRPC code,
 *   `err.data.reason` why, `err.message` the server's words. A bad, revoked or expired key is
 *   `UNAUTHORIZED` (reason `API_KEY_REVOKED`, …); a missing permission `FORBIDDEN`. A rate-limited
 *   call rejects with {@link RateLimitedError}, which carries `retryAfterMs`.
 *
 * @example
 * const tv = createTapeVisionClient({ url: 'http://localhost:3000', apiKey: process.env.TAPEVISION_API_KEY! });
 * const keys = await tv.apiKeys.list.query();
 * await tv.close();
 */
export function createTapeVisionClient(options: TapeVisionClientOptions): TapeVisionClient {
  const base = options.url.replace(/\/+$/, '');
  const httpUrl = `${base}/trpc`;
  const wsUrl = `${httpUrl.replace(/^http/, 'ws')}`;
  const credentials = async (): Promise<Record<string, string>> => {
    if ('apiKey' in options) return { 'x-api-key': options.apiKey };
    const token = await options.getAccessToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  };

  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  const wsClient = WebSocketImpl
    ? createWSClient({
        url: wsUrl,
        WebSocket: WebSocketImpl,
        lazy: { enabled: true, closeMs: 0 },
        connectionParams: async () => {
          if ('apiKey' in options) return { apiKey: options.apiKey };
          const token = await options.getAccessToken();
          return token ? { accessToken: token } : {};
        },
      })
    : null;

  const maxRetries = options.maxQueryRetries ?? 3;
  const client = createTRPCClient<AppRouter>({
    links: [
      rateLimitLink(),
      retryLink({
        // A cancelled query (its signal aborted) also looks like a network error: leave it be.
        retry: ({ op, error, attempts }) =>
          op.type === 'query' && attempts <= maxRetries && !op.signal?.aborted && isNetworkError(error),
        retryDelayMs: (attempt) => Math.min(200 * 2 ** attempt, 5_000),
      }),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsClient
          ? wsLink<AppRouter>({ client: wsClient })
          : () => () =>
              observable((observer) => {
                observer.error(new TRPCClientError('Subscriptions need a WebSocket implementation: pass `WebSocket`'));
              }),
        false: httpBatchLink({
          url: httpUrl,
          // The server refuses batches over MAX_BATCH_SIZE (50 by default) whole.
          maxItems: 50,
          headers: async () => ({ ...options.headers, ...(await credentials()) }),
        }),
      }),
    ],
  });
  const close = async (): Promise<void> => {
    await wsClient?.close();
  };
  // The tRPC client is a proxy that turns every property into a procedure path, so a property
  // assigned to it is never read back: answer `close` in a proxy of our own.
  return new Proxy(client, {
    get: (target, prop, receiver) => (prop === 'close' ? close : Reflect.get(target, prop, receiver)),
  }) as TapeVisionClient;
}
