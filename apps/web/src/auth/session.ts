import { isApiError, isUnauthorized } from '../lib/errors.ts';
import type { AuthResult, User } from '../types.ts';
import { refreshSession } from './refresh.ts';
import { authStore } from './token-store.ts';

export const NOTICE_SESSION_ENDED = 'Your session was ended. Sign in again to continue.';
export const NOTICE_SESSION_EXPIRED = 'Your session has expired. Sign in again to continue.';
export const NOTICE_UNREACHABLE = 'Could not reach the server to restore your session. Sign in again.';
export const NOTICE_RESTORE_FAILED = 'Your session could not be restored. Sign in again.';

/** Refresh this long before the access token expires. */
const REFRESH_LEAD_MS = 60_000;
/** A token closer than this to expiry is refreshed before it is used. */
const USE_MARGIN_MS = 15_000;
const MIN_DELAY_MS = 5_000;
const RETRY_DELAY_MS = 15_000;

let timer: ReturnType<typeof setTimeout> | undefined;
/** True while the user's own sign-out runs: its revocation event is expected, not news. */
let leaving = false;
const signedOutHooks = new Set<() => void>();

/** Runs after every sign-out, whatever the cause (close sockets, drop cached data). */
export function onSignedOut(hook: () => void): () => void {
  signedOutHooks.add(hook);
  return () => signedOutHooks.delete(hook);
}

export function startSession(result: AuthResult): void {
  authStore.setSignedIn(result);
  scheduleRefresh();
}

function scheduleRefresh(delay?: number): void {
  clearTimeout(timer);
  const state = authStore.get();
  if (state.status !== 'signedIn') return;
  const wait = delay ?? Math.max(MIN_DELAY_MS, state.expiresAt - Date.now() - REFRESH_LEAD_MS);
  timer = setTimeout(() => {
    refreshAccessToken().catch(() => undefined);
  }, wait);
}

/**
 * A new access token through the refresh cookie, or null when the session is over (then the
 * user is signed out). Network failures are thrown and retried later; they do not sign anyone out.
 */
export async function refreshAccessToken(): Promise<string | null> {
  const epoch = authStore.get().epoch;
  try {
    const result = await refreshSession();
    const now = authStore.get();
    // Signed out while the refresh was under way: its answer belongs to a session we have left.
    if (now.epoch !== epoch || now.status === 'signedOut') return null;
    startSession(result);
    return result.accessToken;
  } catch (err) {
    const now = authStore.get();
    if (now.epoch !== epoch || now.status === 'signedOut') return null;
    if (isUnauthorized(err)) {
      endSession(now.status === 'restoring' ? null : NOTICE_SESSION_EXPIRED);
      return null;
    }
    if (now.status === 'signedIn') scheduleRefresh(RETRY_DELAY_MS);
    throw err;
  }
}

/** On page load: sign back in through the refresh cookie, if there is a live one. */
export async function restoreSession(): Promise<void> {
  if (authStore.get().status !== 'restoring') return;
  try {
    await refreshAccessToken();
  } catch (err) {
    // No answer at all (network) versus an answer that was not a session.
    endSession(isApiError(err) && err.data ? NOTICE_RESTORE_FAILED : NOTICE_UNREACHABLE);
  }
}

/** The current access token, refreshed first when it is about to expire; null when signed out. */
export async function getFreshAccessToken(): Promise<string | null> {
  const state = authStore.get();
  if (state.status !== 'signedIn') return null;
  if (state.expiresAt - Date.now() > USE_MARGIN_MS) return state.accessToken;
  try {
    return await refreshAccessToken();
  } catch {
    return authStore.accessToken();
  }
}

/**
 * A call was refused with UNAUTHORIZED: try one refresh. True when the call may be retried with
 * a new token; false when the session is over (the user has then been signed out).
 */
export async function recoverFromUnauthorized(tokenUsed: string | null): Promise<boolean> {
  const state = authStore.get();
  if (state.status !== 'signedIn') return false;
  // Another call already refreshed since this one was sent.
  if (tokenUsed !== null && state.accessToken !== tokenUsed) return true;
  try {
    return (await refreshAccessToken()) !== null;
  } catch {
    return false;
  }
}

export function endSession(notice: string | null): void {
  clearTimeout(timer);
  if (authStore.get().status === 'signedOut') return;
  authStore.setSignedOut(notice);
  for (const hook of signedOutHooks) hook();
}

/** The server ended this session (revoked elsewhere, password reset, role change, …). */
export function sessionRevoked(): void {
  if (leaving || authStore.get().status !== 'signedIn') return;
  endSession(NOTICE_SESSION_ENDED);
}

/** The user's own sign-out: tell the server (which clears the cookie), then forget everything. */
export async function signOut(callLogout: () => Promise<unknown>): Promise<void> {
  if (authStore.get().status !== 'signedIn') return;
  leaving = true;
  try {
    await callLogout();
  } catch {
    // Already ended on the server, or unreachable: sign out here regardless.
  } finally {
    leaving = false;
    endSession(null);
  }
}

export function passwordChangeRequired(): void {
  const state = authStore.get();
  if (state.status === 'signedIn' && !state.user.mustChangePassword) {
    authStore.setUser({ ...state.user, mustChangePassword: true });
  }
}

export function updateUser(user: User): void {
  authStore.setUser(user);
}
