import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { isSessionEvent, SESSION_EVENTS_CHANNEL } from '@tapevision/api';
import type { EventBus } from '@tapevision/db';

/** Application close code: the session behind this socket was revoked; do not reconnect with it. */
export const WS_CLOSE_SESSION_REVOKED = 4001;

/**
 * This process's open sockets by session. Revocations arrive over the bus from whichever process
 * made them, and the matching sockets here are closed.
 */
export function createSocketRegistry(opts: {
  bus: EventBus;
  logger: Logger;
  closeDelayMs: number;
  /** Which of these sessions are still live; sessions that lapse (idle, absolute) get no event. */
  liveSessions: (ids: string[]) => Promise<Set<string>>;
  sweepEveryMs?: number;
}) {
  const bySession = new Map<string, Set<WebSocket>>();
  let unsubscribe: (() => void) | null = null;
  let sweeper: NodeJS.Timeout | null = null;

  async function sweep() {
    const ids = [...bySession.keys()];
    if (ids.length === 0) return;
    try {
      const live = await opts.liveSessions(ids);
      for (const id of ids) if (!live.has(id)) closeSession(id);
    } catch (err) {
      opts.logger.warn({ err }, 'socket sweep failed');
    }
  }

  function register(socket: WebSocket, sessionId: string) {
    // A socket that closed while its token was being checked would never leave the map.
    if (socket.readyState !== socket.OPEN) return;
    let set = bySession.get(sessionId);
    if (!set) bySession.set(sessionId, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && bySession.get(sessionId) === set) bySession.delete(sessionId);
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
      sweeper = setInterval(() => void sweep(), opts.sweepEveryMs ?? 30_000);
      sweeper.unref();
    },
    sweep,
    stop() {
      unsubscribe?.();
      unsubscribe = null;
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
    },
    size: () => [...bySession.values()].reduce((n, s) => n + s.size, 0),
  };
}
