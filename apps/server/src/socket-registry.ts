import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { isSessionEvent, SESSION_EVENTS_CHANNEL, type AccessClaims } from '@tapevision/api';
import type { EventBus } from '@tapevision/db';

/** Application close code: the session behind this socket was revoked; do not reconnect with it. */
export const WS_CLOSE_SESSION_REVOKED = 4001;

/**
 * This process's open sockets by session. Revocations arrive over the bus from whichever process
 * made them, and the matching sockets here are closed.
 */
export function createSocketRegistry(opts: { bus: EventBus; logger: Logger; closeDelayMs: number }) {
  const bySession = new Map<string, Set<WebSocket>>();
  let unsubscribe: (() => void) | null = null;

  function register(socket: WebSocket, claims: AccessClaims) {
    let set = bySession.get(claims.sessionId);
    if (!set) bySession.set(claims.sessionId, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && bySession.get(claims.sessionId) === set) bySession.delete(claims.sessionId);
    });
  }

  function closeSession(sessionId: string) {
    const sockets = bySession.get(sessionId);
    if (!sockets) return;
    // A short delay lets the revocation event reach the client's own subscription first.
    setTimeout(() => {
      for (const socket of sockets) socket.close(WS_CLOSE_SESSION_REVOKED, 'session revoked');
    }, opts.closeDelayMs).unref();
  }

  return {
    register,
    async start() {
      unsubscribe = await opts.bus.subscribe(SESSION_EVENTS_CHANNEL, (event) => {
        if (isSessionEvent(event) && event.type === 'revoked') closeSession(event.sessionId);
      });
    },
    stop() {
      unsubscribe?.();
      unsubscribe = null;
    },
    size: () => [...bySession.values()].reduce((n, s) => n + s.size, 0),
  };
}
