import { QueryClient } from '@tanstack/react-query';
import { createWSClient, httpBatchLink, httpBatchStreamLink, splitLink, wsLink, type TRPCWebSocketClient } from '@trpc/client';
import { createTRPCReact } from '@trpc/react-query';
import type { AppRouter } from '@tapevision/api';
import { authRecoveryLink } from './auth/auth-link.ts';
import { getFreshAccessToken, onSignedOut, sessionRevoked } from './auth/session.ts';
import { isApiError } from './lib/errors.ts';
import { WS_CLOSE_REVOKED } from '@tapevision/api/ws-close-codes';

export const trpc = createTRPCReact<AppRouter>();

/** The server closes a revoked session's sockets with this code (shared with the server and the typed client). */
export const WS_CLOSE_SESSION_REVOKED = WS_CLOSE_REVOKED;

function webSocketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/trpc`;
}

/**
 * Subscriptions' WebSocket. A socket is authenticated once, when it opens, with the token in
 * connectionParams; so it opens lazily (at the first subscription, i.e. after sign-in) and is
 * closed at every sign-out, and the next user's subscription opens a fresh one.
 */
export const wsClient: TRPCWebSocketClient = createWSClient({
  url: webSocketUrl,
  lazy: { enabled: true, closeMs: 5_000 },
  connectionParams: async () => {
    const accessToken = await getFreshAccessToken();
    return accessToken ? { accessToken } : {};
  },
  onClose: (cause) => {
    if (cause?.code === WS_CLOSE_SESSION_REVOKED) sessionRevoked();
  },
});

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // Client errors (4xx) will not change on a retry; network and server errors might.
      retry: (failureCount, err) => {
        if (isApiError(err) && err.data && err.data.httpStatus < 500) return false;
        return failureCount < 2;
      },
    },
    mutations: { retry: false },
  },
});

/** What every HTTP call carries: the access token, and (same origin) the HttpOnly refresh cookie. */
const httpOptions = {
  url: '/trpc',
  headers: async (): Promise<Record<string, string>> => {
    const accessToken = await getFreshAccessToken();
    return accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
  },
  // Same origin: the HttpOnly refresh cookie (Path=/trpc) rides along.
  fetch: (input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, { ...init, credentials: 'include' }),
};

/**
 * Procedures whose result is an async iterable, answered chunk by chunk: they need the streaming
 * link (the plain batch link cannot carry an iterable), and stay out of everyone else's batches
 * so a long export never holds up a page's other queries.
 */
const STREAMED = new Set(['audit.export']);

export const trpcClient = trpc.createClient({
  links: [
    authRecoveryLink(),
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: wsLink({ client: wsClient }),
      false: splitLink({
        condition: (op) => STREAMED.has(op.path),
        true: httpBatchStreamLink({ ...httpOptions, maxItems: 1 }),
        // The server refuses batches over MAX_BATCH_SIZE (50 by default) whole.
        false: httpBatchLink({ ...httpOptions, maxItems: 50 }),
      }),
    }),
  ],
});

onSignedOut(() => {
  void wsClient.close();
  queryClient.clear();
});
