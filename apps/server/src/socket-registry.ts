import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import {
  API_KEY_CACHE_CHANNEL,
  isSessionEvent,
  SESSION_CACHE_CHANNEL,
  SESSION_EVENTS_CHANNEL,
  WS_CLOSE_REVOKED,
  WS_CLOSE_RIGHTS_CHANGED,
  type ApiKeyCheck,
  type WebSocketOwner,
} from '@tapevision/api';
import type { EventBus } from '@tapevision/db';

/** @deprecated the code is WS_CLOSE_REVOKED (sessions and API keys alike); kept for existing imports. */
export const WS_CLOSE_SESSION_REVOKED = WS_CLOSE_REVOKED;

type ValidKeyCheck = Extract<ApiKeyCheck, { ok: true }>;

interface KeySocket {
  socket: WebSocket;
  keyId: string;
  userId: string;
  raw: string;
  /** What the key granted when the socket opened (or was last re-checked): losing any of it ends the socket. */
  permissions: ReadonlySet<string>;
  timer: NodeJS.Timeout | null;
}

// setTimeout's longest delay; a later deadline is re-armed when this one fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * This process's open sockets by owner: the session or the API key each was opened with. A socket
 * lives no longer than its owner's rights: revocations, rolls and owner changes arrive over the
 * bus from whichever process made them, expiries (a key's, a grace period's, a session's absolute
 * one) by a timer at the moment they fall, and a periodic sweep re-checks everything as a backstop.
 */
export function createSocketRegistry(opts: {
  bus: EventBus;
  logger: Logger;
  closeDelayMs: number;
  now: () => Date;
  /** Which of these sessions are still live; sessions that lapse (idle, absolute) get no event. */
  liveSessions: (ids: string[]) => Promise<Set<string>>;
  /** When a live session reaches its absolute expiry; null when it is not live. */
  sessionExpiresAt: (id: string) => Promise<Date | null>;
  /** The uncached key check every call makes. */
  checkKey: (raw: string) => Promise<ApiKeyCheck>;
  sweepEveryMs?: number;
}) {
  const bySession = new Map<string, Set<WebSocket>>();
  const sessionTimers = new Map<string, NodeJS.Timeout>();
  const byKey = new Map<string, Set<KeySocket>>();
  const unsubscribes: (() => void)[] = [];
  let sweeper: NodeJS.Timeout | null = null;
  let stopped = false;

  async function sweep() {
    const ids = [...bySession.keys()];
    try {
      if (ids.length > 0) {
        const live = await opts.liveSessions(ids);
        for (const id of ids) if (!live.has(id)) closeSession(id);
      }
    } catch (err) {
      opts.logger.warn({ err }, 'socket sweep failed');
    }
    await recheckKeys([...byKey.values()].flatMap((set) => [...set]));
  }

  function register(socket: WebSocket, owner: WebSocketOwner) {
    // A socket that closed while its token was being checked would never leave the map.
    if (socket.readyState !== socket.OPEN || stopped) return;
    if (owner.kind === 'session') registerSession(socket, owner.sessionId);
    else registerKey(socket, owner.raw, owner.check);
  }

  function registerSession(socket: WebSocket, sessionId: string) {
    let set = bySession.get(sessionId);
    if (!set) {
      bySession.set(sessionId, (set = new Set()));
      void armSessionExpiry(sessionId);
    }
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && bySession.get(sessionId) === set) {
        bySession.delete(sessionId);
        clearTimeout(sessionTimers.get(sessionId));
        sessionTimers.delete(sessionId);
      }
    });
  }

  // Idle expiry moves with every call and is left to the sweep; the absolute one is fixed.
  async function armSessionExpiry(sessionId: string) {
    let expiresAt: Date | null;
    try {
      expiresAt = await opts.sessionExpiresAt(sessionId);
    } catch (err) {
      opts.logger.warn({ err }, 'could not read a session expiry; the sweep covers it');
      return;
    }
    if (!bySession.has(sessionId)) return;
    if (!expiresAt) return closeSession(sessionId);
    const delay = expiresAt.getTime() - opts.now().getTime();
    const timer = setTimeout(
      () => {
        sessionTimers.delete(sessionId);
        if (delay > MAX_TIMER_MS) return void armSessionExpiry(sessionId);
        void opts.liveSessions([sessionId]).then(
          (live) => {
            if (!live.has(sessionId)) closeSession(sessionId);
          },
          (err: unknown) => opts.logger.warn({ err }, 'session expiry check failed; the sweep covers it'),
        );
      },
      Math.min(Math.max(delay, 0) + 5, MAX_TIMER_MS),
    );
    timer.unref();
    sessionTimers.set(sessionId, timer);
  }

  function registerKey(socket: WebSocket, raw: string, check: ValidKeyCheck) {
    const entry: KeySocket = { socket, keyId: check.key.id, userId: check.owner.id, raw, permissions: check.permissions, timer: null };
    let set = byKey.get(entry.keyId);
    if (!set) byKey.set(entry.keyId, (set = new Set()));
    set.add(entry);
    armKeyExpiry(entry, check);
    socket.once('close', () => {
      if (entry.timer) clearTimeout(entry.timer);
      set.delete(entry);
      if (set.size === 0 && byKey.get(entry.keyId) === set) byKey.delete(entry.keyId);
    });
  }

  /** A timer at the first moment the key stops working for this socket: its expiry, or the end of the grace period it is in. */
  function armKeyExpiry(entry: KeySocket, check: ValidKeyCheck) {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    // graceEndsAt: an older secret keeps its own grace, which may end after the previous one's.
    const deadlines = [check.key.expiresAt, check.graceEndsAt].filter((d): d is Date => d !== null);
    if (deadlines.length === 0) return;
    const at = Math.min(...deadlines.map((d) => d.getTime()));
    const delay = Math.max(at - opts.now().getTime(), 0) + 5;
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void recheckKeys([entry]);
    }, Math.min(delay, MAX_TIMER_MS));
    entry.timer.unref();
  }

  /** Checks each socket's key afresh (one read per distinct key) and ends the sockets it no longer covers. */
  async function recheckKeys(entries: KeySocket[]) {
    const byRaw = new Map<string, KeySocket[]>();
    for (const e of entries) byRaw.set(e.raw, [...(byRaw.get(e.raw) ?? []), e]);
    await Promise.all(
      [...byRaw].map(async ([raw, group]) => {
        let check: ApiKeyCheck;
        try {
          check = await opts.checkKey(raw);
        } catch (err) {
          // Left open: every call checks the key anyway, and the next sweep tries again.
          opts.logger.warn({ err }, 'API key re-check failed; the sweep retries');
          return;
        }
        for (const entry of group) {
          if (entry.socket.readyState !== entry.socket.OPEN) continue;
          if (!check.ok) {
            closeNow(entry.socket, WS_CLOSE_REVOKED, 'api key no longer valid');
            continue;
          }
          const lost = [...entry.permissions].filter((p) => !check.permissions.has(p as never));
          if (lost.length > 0) {
            // Its subscriptions were authorised for rights the key no longer has: the client
            // reconnects and each is authorised again.
            closeNow(entry.socket, WS_CLOSE_RIGHTS_CHANGED, 'api key rights changed');
            continue;
          }
          entry.permissions = check.permissions;
          armKeyExpiry(entry, check);
        }
      }),
    );
  }

  function keySocketsWhere(match: (e: KeySocket) => boolean): KeySocket[] {
    const found: KeySocket[] = [];
    for (const set of byKey.values()) for (const e of set) if (match(e)) found.push(e);
    return found;
  }

  function closeNow(socket: WebSocket, code: number, reason: string) {
    socket.close(code, reason);
  }

  function closeSession(sessionId: string) {
    const sockets = bySession.get(sessionId);
    if (!sockets) return;
    // A short delay lets the revocation event reach the client's own subscription first.
    setTimeout(() => {
      for (const socket of sockets) socket.close(WS_CLOSE_REVOKED, 'session revoked');
    }, opts.closeDelayMs).unref();
  }

  const field = (event: unknown, name: string) => {
    const value = (event as Record<string, unknown> | null)?.[name];
    return typeof value === 'string' ? value : null;
  };

  return {
    register,
    async start() {
      unsubscribes.push(
        await opts.bus.subscribe(SESSION_EVENTS_CHANNEL, (event) => {
          if (isSessionEvent(event) && event.type === 'revoked') closeSession(event.sessionId);
        }),
        // A key revoked or rolled, on any process.
        await opts.bus.subscribe(API_KEY_CACHE_CHANNEL, (event) => {
          const id = field(event, 'apiKeyId');
          const sockets = id ? byKey.get(id) : undefined;
          if (sockets) void recheckKeys([...sockets]);
        }),
        // A user's role, status or credentials changed: their keys' sockets are re-checked.
        await opts.bus.subscribe(SESSION_CACHE_CHANNEL, (event) => {
          const userId = field(event, 'userId');
          if (!userId) return;
          const sockets = keySocketsWhere((e) => e.userId === userId);
          if (sockets.length > 0) void recheckKeys(sockets);
        }),
      );
      sweeper = setInterval(() => void sweep(), opts.sweepEveryMs ?? 30_000);
      sweeper.unref();
    },
    sweep,
    stop() {
      stopped = true;
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      for (const timer of sessionTimers.values()) clearTimeout(timer);
      sessionTimers.clear();
      for (const e of keySocketsWhere(() => true)) if (e.timer) clearTimeout(e.timer);
    },
    size: () => [...bySession.values()].reduce((n, s) => n + s.size, 0) + [...byKey.values()].reduce((n, s) => n + s.size, 0),
  };
}
