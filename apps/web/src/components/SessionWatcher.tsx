import { skipToken } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { recoverFromUnauthorized, sessionRevoked } from '../auth/session.ts';
import { isUnauthorized } from '../lib/errors.ts';
import { trpc, wsClient } from '../trpc.ts';

const RECOVERY_INTERVAL_MS = 30_000;

const LABELS = {
  live: 'Live',
  connecting: 'Connecting…',
  offline: 'Offline',
} as const;

/**
 * Listens to this user's session events for as long as they are signed in, on every page: lists
 * refetch when a session starts or ends, and this tab signs out the moment its own session is
 * revoked (the server also closes the socket with 4001, which trpc.ts handles).
 */
export function SessionWatcher({ sessionId }: { sessionId: string | undefined }) {
  const utils = trpc.useUtils();
  const sessionIdRef = useRef(sessionId);
  const lastRecoveryRef = useRef(0);
  useEffect(() => {
    sessionIdRef.current = sessionId;
  }, [sessionId]);

  const subscription = trpc.sessions.onEvent.useSubscription(sessionId ? undefined : skipToken, {
    onData(event) {
      void utils.sessions.list.invalidate();
      void utils.users.sessions.invalidate();
      if (event.type === 'revoked' && event.sessionId === sessionIdRef.current) sessionRevoked();
    },
    onError(err) {
      // The socket was opened with a token that no longer passes: refresh, then reopen it
      // (at most once in a while, should the server keep refusing).
      if (!isUnauthorized(err) || Date.now() - lastRecoveryRef.current < RECOVERY_INTERVAL_MS) return;
      lastRecoveryRef.current = Date.now();
      void recoverFromUnauthorized(null).then(async (ok) => {
        if (!ok) return;
        await wsClient.close();
        subscription.reset();
      });
    },
  });

  const state = subscription.status === 'pending' ? 'live' : subscription.status === 'error' ? 'offline' : 'connecting';
  return (
    <span className={`live live-${state}`} data-live-state={state} title={`Live session updates: ${LABELS[state].toLowerCase()}`}>
      <span className="live-dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
