import type { AuthResult, User } from '../types.ts';

/**
 * The signed-in state, in memory only: the access token never touches localStorage,
 * sessionStorage or a readable cookie. A reload restores it through the HttpOnly refresh cookie.
 */
export type AuthState =
  | { status: 'restoring'; epoch: number }
  | { status: 'signedOut'; epoch: number; notice: string | null }
  | {
      status: 'signedIn';
      epoch: number;
      accessToken: string;
      /** Local clock time (ms) at which the access token expires. */
      expiresAt: number;
      user: User;
    };

type Listener = () => void;

let state: AuthState = { status: 'restoring', epoch: 0 };
const listeners = new Set<Listener>();

function set(next: AuthState): void {
  state = next;
  for (const listener of listeners) listener();
}

/**
 * When the token expires by this browser's clock. The token's own lifetime (exp − iat) is added to
 * the moment it arrived, so a skewed local clock does not make us refresh too early or too late.
 */
export function localExpiry(accessToken: string, accessTokenExpiresAt: string, receivedAt = Date.now()): number {
  try {
    const segment = accessToken.split('.')[1] ?? '';
    const payload = JSON.parse(atob(segment.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown; iat?: unknown };
    if (typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp > payload.iat) {
      return receivedAt + (payload.exp - payload.iat) * 1000;
    }
  } catch {
    // Not a JWT we can read: fall back to the server's timestamp.
  }
  const parsed = Date.parse(accessTokenExpiresAt);
  return Number.isNaN(parsed) ? receivedAt + 60_000 : parsed;
}

export const authStore = {
  get: (): AuthState => state,

  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },

  accessToken(): string | null {
    return state.status === 'signedIn' ? state.accessToken : null;
  },

  setSignedIn(result: AuthResult): void {
    set({
      status: 'signedIn',
      epoch: state.epoch,
      accessToken: result.accessToken,
      expiresAt: localExpiry(result.accessToken, result.accessTokenExpiresAt),
      user: result.user,
    });
  },

  setUser(user: User): void {
    if (state.status === 'signedIn') set({ ...state, user });
  },

  /** Every sign-out starts a new epoch: answers to requests made before it are ignored. */
  setSignedOut(notice: string | null): void {
    set({ status: 'signedOut', epoch: state.epoch + 1, notice });
  },

  clearNotice(): void {
    if (state.status === 'signedOut' && state.notice !== null) set({ ...state, notice: null });
  },
};
