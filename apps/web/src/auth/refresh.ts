import { createTRPCClient, httpBatchLink } from '@trpc/client';
import type { AppRouter } from '@tapevision/api';
import type { AuthResult } from '../types.ts';

export const REFRESH_LOCK_NAME = 'tapevision-refresh';

/** The part of the Web Locks API we use (navigator.locks). */
export interface LockRequester {
  request<T>(name: string, task: () => Promise<T>): Promise<T>;
}

/**
 * Wraps a refresh so that only one runs at a time: across tabs through a Web Lock (each tab sends
 * the cookie the previous one left, so rotations never race), and within a tab by sharing the
 * promise of the refresh already under way. Without Web Locks (older browsers, plain-HTTP origins)
 * the shared in-tab promise is all there is; the server's grace window covers tabs that race.
 */
export function createRefreshCoordinator<T>(refresh: () => Promise<T>, locks: LockRequester | null): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return function refreshOnce(): Promise<T> {
    if (!inFlight) {
      const run = locks ? locks.request(REFRESH_LOCK_NAME, refresh) : refresh();
      inFlight = run.finally(() => {
        inFlight = null;
      });
    }
    return inFlight;
  };
}

function browserLocks(): LockRequester | null {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks || typeof locks.request !== 'function') return null;
  // The lock is held until the task's promise settles; request() resolves with its result.
  return { request: <T>(name: string, task: () => Promise<T>) => locks.request(name, { mode: 'exclusive' }, task) as Promise<T> };
}

// A client of its own, outside the main link chain: a refresh must never wait on itself.
// (The batch link, because it sends a no-input mutation with a `{}` body; the plain httpLink sends
// no body at all, which tRPC's JSON parser on the server rejects.)
const refreshClient = createTRPCClient<AppRouter>({
  links: [
    httpBatchLink({
      url: '/trpc',
      fetch: (input, init) => globalThis.fetch(input, { ...(init as RequestInit), credentials: 'include' }),
    }),
  ],
});

/** auth.refresh: the server reads the HttpOnly refresh cookie, rotates it and returns a new access token. */
export const refreshSession: () => Promise<AuthResult> = createRefreshCoordinator(async () => {
  const { accessToken, accessTokenExpiresAt, user } = await refreshClient.auth.refresh.mutate();
  return { accessToken, accessTokenExpiresAt, user };
}, browserLocks());
