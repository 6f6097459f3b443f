import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseCookies } from 'cookie';
import type { WebSocket } from 'ws';
import type { RequestOrigin } from './audit/recorder.ts';
import type { ApiDeps } from './deps.ts';
import type { AccessClaims } from './services/tokens.ts';
import { verifyApiKey, type ApiKeyCheck } from './services/api-keys.ts';

/** The transport-free part of a request: what tests hand to createCaller. */
export interface Context {
  deps: ApiDeps;
  transport: 'http' | 'ws' | 'internal';
  origin: RequestOrigin;
  /** True when the client reached us over TLS, so cookies get `Secure`. */
  secure: boolean;
  cookies: Record<string, string>;
  /** A bearer token from the Authorization header (HTTP). */
  accessToken: string | null;
  /** The token a WebSocket presented in connectionParams, verified once when it connected. */
  wsClaims: AccessClaims | null;
  /** An API key from the `x-api-key` header (HTTP) or connectionParams.apiKey (WebSocket); checked on every call. */
  apiKey: string | null;
  /** Adds a Set-Cookie header to the HTTP response; a no-op where there is none. */
  setCookie(serialized: string): void;
  /** Sets a response header (rate-limit headers); a no-op on WebSocket. */
  setHeader(name: string, value: string): void;
  /** Bytes written to this caller's socket but not yet sent (WebSocket); 0 elsewhere. Subscriptions slow down on it. */
  outboundBytes(): number;
}

export function createInnerContext(deps: ApiDeps, parts: Partial<Omit<Context, 'deps'>> = {}): Context {
  return {
    deps,
    transport: 'internal',
    origin: { ip: null, userAgent: null, requestId: randomUUID() },
    secure: false,
    cookies: {},
    accessToken: null,
    wsClaims: null,
    apiKey: null,
    setCookie: () => {},
    setHeader: () => {},
    outboundBytes: () => 0,
    ...parts,
  };
}

export interface ContextFactoryOptions {
  /** Believe X-Forwarded-For / X-Forwarded-Proto: only behind a proxy that sets them. */
  trustProxy: boolean;
  /** Called for each WebSocket whose token or key checked out, so revocation can find and close it. */
  onWebSocketAuthenticated?: (socket: WebSocket, owner: WebSocketOwner) => void;
}

/** Who a WebSocket belongs to: the session or the API key it was opened with. */
export type WebSocketOwner =
  | { kind: 'session'; principalKey: string; userId: string; sessionId: string }
  | {
      kind: 'apikey';
      principalKey: string;
      userId: string;
      sessionId: null;
      /** The key as presented: the socket is re-checked with it when the key or its owner changes. */
      raw: string;
      check: Extract<ApiKeyCheck, { ok: true }>;
    };

export interface TransportContextInput {
  req: IncomingMessage;
  res: ServerResponse | WebSocket;
  info: { connectionParams: Record<string, string | undefined> | null };
}

const REQUEST_ID = /^[\w.-]{1,64}$/;

/** The one context factory for both transports. */
export function createContextFactory(deps: ApiDeps, opts: ContextFactoryOptions) {
  return async function createContext({ req, res, info }: TransportContextInput): Promise<Context> {
    const headerId = req.headers['x-request-id'];
    const origin: RequestOrigin = {
      ip: clientIp(req, opts.trustProxy),
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 512) : null,
      requestId: typeof headerId === 'string' && REQUEST_ID.test(headerId) ? headerId : randomUUID(),
    };
    const secure = isSecure(req, opts.trustProxy);
    const cookies = req.headers.cookie ? safeParseCookies(req.headers.cookie) : {};

    if ('setHeader' in res) {
      return {
        deps,
        transport: 'http',
        origin,
        secure,
        cookies,
        accessToken: bearerToken(req.headers.authorization),
        wsClaims: null,
        apiKey: headerValue(req.headers['x-api-key']),
        setCookie: (serialized) => res.appendHeader('set-cookie', serialized),
        setHeader: (name, value) => {
          if (!res.headersSent) res.setHeader(name, value);
        },
        outboundBytes: () => 0,
      };
    }

    const presented = info.connectionParams?.accessToken;
    const apiKey = info.connectionParams?.apiKey?.slice(0, 256) ?? null;
    const claims = typeof presented === 'string' ? await deps.tokens.verifyAccessToken(presented, deps.clock.now()) : null;
    if (claims) {
      opts.onWebSocketAuthenticated?.(res, { kind: 'session', principalKey: `u:${claims.userId}`, userId: claims.userId, sessionId: claims.sessionId });
    } else if (apiKey) {
      // Checked here to count the connection against its key and to hand the socket to its key;
      // every call checks the key again.
      const check = await verifyApiKey(deps, apiKey);
      if (check.ok) {
        opts.onWebSocketAuthenticated?.(res, { kind: 'apikey', principalKey: `k:${check.key.id}`, userId: check.owner.id, sessionId: null, raw: apiKey, check });
      }
    }
    return {
      deps,
      transport: 'ws',
      origin,
      secure,
      // No procedure reads the upgrade's cookies: they are whatever a same-site page had sent.
      cookies: {},
      accessToken: null,
      wsClaims: claims,
      apiKey,
      setCookie: () => {},
      setHeader: () => {},
      outboundBytes: () => res.bufferedAmount,
    };
  };
}

function headerValue(value: string | string[] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  return v ? v.slice(0, 256) : null;
}

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

function safeParseCookies(header: string): Record<string, string> {
  try {
    const parsed = parseCookies(header);
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    // The rightmost entry is the one our proxy appended; everything left of it the client wrote.
    const nearest = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded)?.split(',').at(-1)?.trim();
    if (nearest) return nearest;
  }
  const raw = req.socket.remoteAddress ?? 'unknown';
  return raw.startsWith('::ffff:') ? raw.slice(7) : raw;
}

function isSecure(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return trustProxy && req.headers['x-forwarded-proto'] === 'https';
}
