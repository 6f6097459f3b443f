import { useEffect, type ReactNode } from 'react';
import { getFreshAccessToken, restoreSession } from './session.ts';

/**
 * Restores the session once on load, and tops up the token when the tab becomes visible again
 * (background tabs' timers are throttled, so the scheduled refresh may have been late).
 */
export function AuthProvider({ children }: { children: ReactNode }) {
  useEffect(() => {
    void restoreSession();
    const onVisible = () => {
      if (document.visibilityState === 'visible') void getFreshAccessToken();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);
  return <>{children}</>;
}
