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

/** A fully typed client: `client.users.list.query()`, `client.sessions.onEvent.subscribe(…)`. */
export type TapeVisionClient = TRPCClient<AppRouter> & {
  /** Closes the WebSocket (if one was opened). */
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
 * over one lazily opened WebSocket. Queries (never mutations) are retried with backoff after
 * network errors; a rate-limited call rejects with {@link RateLimitedError}.
 *
 * @example
 * const tv = createTapeVisionClient({ url: 'http://localhost:3000', apiKey: process.env.TAPEVISION_API_KEY! });
 * const keys = await tv.apiKeys.list.query();
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
        retry: ({ op, error, attempts }) => op.type === 'query' && attempts <= maxRetries && isNetworkError(error),
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
          headers: async () => ({ ...options.headers, ...(await credentials()) }),
        }),
      }),
    ],
  });
  return Object.assign(client, {
    async close() {
      await wsClient?.close();
    },
  });
}
