import type { TRPCLink } from '@trpc/client';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import type { AppRouter } from '@tapevision/api';
import { authStore } from './token-store.ts';
import { endSession, NOTICE_SESSION_EXPIRED, passwordChangeRequired, recoverFromUnauthorized } from './session.ts';

/** These answer UNAUTHORIZED for reasons a refresh cannot fix (wrong password, no cookie). */
const NO_RECOVERY = new Set(['auth.login', 'auth.refresh', 'auth.logout']);

/**
 * A call refused with UNAUTHORIZED gets one refresh and one retry; when the refresh fails, or the
 * retry is refused again, the user is signed out. A pending forced password change, reported by
 * any call, switches the app to the change-password page.
 */
export function authRecoveryLink(): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let current: Unsubscribable | undefined;
        let closed = false;
        let retried = false;

        const attempt = () => {
          const tokenUsed = authStore.accessToken();
          current = next(op).subscribe({
            next: (value) => observer.next(value),
            complete: () => observer.complete(),
            error: (err) => {
              if (err.data?.reason === 'PASSWORD_CHANGE_REQUIRED') passwordChangeRequired();
              const recoverable =
                err.data?.code === 'UNAUTHORIZED' &&
                op.type !== 'subscription' &&
                !NO_RECOVERY.has(op.path) &&
                authStore.get().status === 'signedIn';
              if (!recoverable) {
                observer.error(err);
                return;
              }
              if (retried) {
                endSession(NOTICE_SESSION_EXPIRED);
                observer.error(err);
                return;
              }
              retried = true;
              void recoverFromUnauthorized(tokenUsed).then((ok) => {
                if (closed) return;
                if (ok) attempt();
                else observer.error(err);
              });
            },
          });
        };

        attempt();
        return () => {
          closed = true;
          current?.unsubscribe();
        };
      });
}
