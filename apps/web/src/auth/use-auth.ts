import { useSyncExternalStore } from 'react';
import { authStore, type AuthState } from './token-store.ts';

export function useAuth(): AuthState {
  return useSyncExternalStore(authStore.subscribe, authStore.get);
}

/** The signed-in state; only for components rendered while signed in. */
export function useSignedIn(): Extract<AuthState, { status: 'signedIn' }> {
  const state = useAuth();
  if (state.status !== 'signedIn') throw new Error('useSignedIn outside a signed-in view');
  return state;
}
