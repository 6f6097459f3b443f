import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RawData, WebSocket } from 'ws';
import { createMemoryConnectionCounter, type ConnectionCounter } from './connection-counter.ts';

export interface WsLimits {
  /** Messages a connection may send per minute. */
  messagesPerMinute: number;
  /** Subscriptions open at once on one connection. */
  maxSubscriptions: number;
  /** Open connections per principal (user or API key) on this process. */
  maxConnectionsPerPrincipal: number;
  /** A connection that has not authenticated by then is closed. */
  authTimeoutMs: number;
  /** Refused messages within a minute after which the connection is closed (1008). */
  maxViolationsPerMinute: number;
}

export const defaultWsLimits: WsLimits = {
  messagesPerMinute: 100,
  maxSubscriptions: 20,
  maxConnectionsPerPrincipal: 20,
  authTimeoutMs: 10_000,
  maxViolationsPerMinute: 20,
};

/** RFC 6455 "policy violation": sustained abuse, too many connections, never authenticated. */
export const WS_CLOSE_POLICY_VIOLATION = 1008;

const TOO_MANY_REQUESTS = -32029;
const FORBIDDEN = -32003;

type Violation = 'message_rate' | 'subscriptions' | 'connections' | 'auth_timeout' | 'abuse';

interface GuardedSocket {
  id: string;
  principal: string | null;
  subscriptions: Set<string | number>;
  authTimer: NodeJS.Timeout | null;
}

/**
 * Per-connection and per-principal limits in front of tRPC's WebSocket handler. tRPC reads frames
 * through `socket.on('message')`; the guard sits in front of the socket's 'message' event, so a
 * refused message never reaches a procedure and its caller gets an error for that message id instead.
 */
export function createWsGuard(opts: {
  limits: WsLimits;
  logger: Logger;
  onViolation?: (kind: Violation, principal: string | null) => void;
  /** Where open connections are counted: Redis to cap them across processes, memory otherwise. */
  connections?: ConnectionCounter;
}) {
  const { limits } = opts;
  // The library's fixed window, one key per connection: no hand-rolled counting.
  const messages = new RateLimiterMemory({ points: limits.messagesPerMinute, duration: 60, keyPrefix: 'ws-msg' });
  const violations = new RateLimiterMemory({ points: limits.maxViolationsPerMinute, duration: 60, keyPrefix: 'ws-abuse' });
  const sockets = new WeakMap<WebSocket, GuardedSocket>();
  const connections = opts.connections ?? createMemoryConnectionCounter();
  const rawSend = new WeakMap<WebSocket, (data: string) => void>();

  function reply(socket: WebSocket, id: unknown, code: number, message: string, data: Record<string, unknown>) {
    if (socket.readyState !== socket.OPEN || (typeof id !== 'string' && typeof id !== 'number')) return;
    // The guard's own refusals bypass the outgoing hook: they must not free a subscription's slot.
    (rawSend.get(socket) ?? socket.send.bind(socket))(JSON.stringify({ id, error: { code, message, data } }));
  }

  function close(socket: WebSocket, kind: Violation, reason: string) {
    const state = sockets.get(socket);
    opts.onViolation?.(kind, state?.principal ?? null);
    opts.logger.warn({ kind, principal: state?.principal ?? null }, 'closing WebSocket: policy violation');
    socket.close(WS_CLOSE_POLICY_VIOLATION, reason);
  }

  async function strike(socket: WebSocket, state: GuardedSocket, kind: Violation) {
    opts.onViolation?.(kind, state.principal);
    try {
      await violations.consume(state.id);
    } catch (err) {
      if (err instanceof RateLimiterRes) close(socket, 'abuse', 'too many refused messages');
    }
  }

  // Heartbeats are free; anything else, garbage included, counts against the connection.
  function parse(raw: RawData): { id: unknown; method: unknown }[] {
    const text = Array.isArray(raw) ? Buffer.concat(raw).toString() : raw.toString();
    if (text === 'PONG' || text === 'PING') return [];
    try {
      const parsed: unknown = JSON.parse(text);
      const list = Array.isArray(parsed) ? parsed : [parsed];
      return list.map((m) => (m && typeof m === 'object' ? (m as { id: unknown; method: unknown }) : { id: null, method: null }));
    } catch {
      return [{ id: null, method: null }];
    }
  }

  async function admit(socket: WebSocket, state: GuardedSocket, raw: RawData): Promise<boolean> {
    const msgs = parse(raw);
    // A frame may carry an array of messages: each one that is not control traffic costs a point,
    // so batching them into one frame buys nothing.
    const cost = msgs.filter((m) => m.method !== 'connectionParams' && m.method !== 'subscription.stop').length;
    if (cost > 0) {
      try {
        await messages.consume(state.id, cost);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        for (const m of msgs) {
          reply(socket, m.id, TOO_MANY_REQUESTS, 'Too many messages on this connection', {
            code: 'TOO_MANY_REQUESTS',
            httpStatus: 429,
            reason: 'WS_MESSAGE_RATE',
            retryAfterMs: err.msBeforeNext,
          });
        }
        await strike(socket, state, 'message_rate');
        return false;
      }
    }
    for (const m of msgs) {
      if (m.method === 'subscription.stop' && (typeof m.id === 'string' || typeof m.id === 'number')) state.subscriptions.delete(m.id);
    }
    // An id already held by a live subscription may not be reused: its error reply would free the slot.
    const reused = msgs.filter((m) => m.method !== 'subscription.stop' && (typeof m.id === 'string' || typeof m.id === 'number') && state.subscriptions.has(m.id));
    if (reused.length) {
      for (const m of reused) {
        reply(socket, m.id, FORBIDDEN, 'This id belongs to an open subscription', { code: 'FORBIDDEN', httpStatus: 403, reason: 'WS_ID_IN_USE' });
      }
      await strike(socket, state, 'subscriptions');
      return false;
    }
    const opening = msgs.filter((m) => m.method === 'subscription' && (typeof m.id === 'string' || typeof m.id === 'number'));
    if (opening.length && state.subscriptions.size + opening.length > limits.maxSubscriptions) {
      for (const m of opening) {
        reply(socket, m.id, FORBIDDEN, `At most ${limits.maxSubscriptions} subscriptions per connection`, {
          code: 'FORBIDDEN',
          httpStatus: 403,
          reason: 'WS_SUBSCRIPTION_LIMIT',
        });
      }
      await strike(socket, state, 'subscriptions');
      return false;
    }
    for (const m of opening) state.subscriptions.add(m.id as string | number);
    return true;
  }

  return {
    /** Call for each new connection, before tRPC's handler starts reading it. */
    attach(socket: WebSocket) {
      const state: GuardedSocket = { id: randomUUID(), principal: null, subscriptions: new Set(), authTimer: null };
      sockets.set(socket, state);
      state.authTimer = setTimeout(() => {
        if (!state.principal) close(socket, 'auth_timeout', 'authentication required');
      }, limits.authTimeoutMs);
      state.authTimer.unref();

      // Each frame is admitted once, whatever number of 'message' listeners it goes to (tRPC's
      // handler and its keep-alive both listen): wrapping each listener instead would count, answer
      // and strike every frame once per listener, and could let one listener through while refusing
      // another. Frames are admitted one at a time, in order, so a burst cannot overtake the counter.
      const emit = socket.emit.bind(socket);
      let chain = Promise.resolve();
      socket.emit = ((event: string | symbol, ...args: unknown[]) => {
        if (event !== 'message') return emit(event, ...args);
        const [raw, isBinary] = args as [RawData, boolean];
        chain = chain
          .then(async () => {
            if (await admit(socket, state, raw)) emit('message', raw, isBinary);
          })
          .catch((err: unknown) => opts.logger.error({ err }, 'WebSocket guard failed'));
        return socket.listenerCount('message') > 0;
      }) as typeof socket.emit;

      // Outgoing "stopped" and error replies end a subscription: free its slot.
      const send = socket.send.bind(socket);
      rawSend.set(socket, send as (data: string) => void);
      socket.send = ((data: unknown, ...rest: unknown[]) => {
        // Only an answer carrying "stopped" or "error" can end a subscription: the data frames of a
        // busy subscription (most of what is sent) are not parsed again on their way out.
        if (typeof data === 'string' && state.subscriptions.size > 0 && (data.includes('"stopped"') || data.includes('"error"'))) {
          try {
            const msg = JSON.parse(data) as { id?: string | number; result?: { type?: string }; error?: unknown };
            if (msg.id !== undefined && (msg.result?.type === 'stopped' || msg.error)) state.subscriptions.delete(msg.id);
          } catch {
            // not JSON: nothing to track
          }
        }
        return (send as (...args: unknown[]) => void)(data, ...rest);
      }) as typeof socket.send;

      socket.once('close', () => {
        if (state.authTimer) clearTimeout(state.authTimer);
        if (state.principal) void connections.remove(state.principal, state.id);
        void messages.delete(state.id);
        void violations.delete(state.id);
      });
    },

    /** The connection proved who it is; enforces the per-principal connection cap. */
    authenticated(socket: WebSocket, principal: string) {
      const state = sockets.get(socket);
      // Authentication finishes after an await: a socket that closed meanwhile must not be counted,
      // since its close handler has already run and would never uncount it.
      if (!state || state.principal || socket.readyState !== socket.OPEN) return;
      state.principal = principal;
      if (state.authTimer) clearTimeout(state.authTimer);
      void connections.add(principal, state.id).then((open) => {
        if (socket.readyState !== socket.OPEN) return void connections.remove(principal, state.id);
        if (open > limits.maxConnectionsPerPrincipal) close(socket, 'connections', 'too many connections');
      });
    },
    stop() {
      connections.stop();
    },
  };
}
