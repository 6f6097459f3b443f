/**
 * Helpers for the authentication, session and revocation tests: reading stored state, decoding
 * and forging JWTs by hand, and waiting for a WebSocket to be closed by the server.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { AuditLog, RefreshToken, Session, User } from '@tapevision/db';
import { expect } from 'vitest';
import { errorData, httpClient, rejectionOf, wsClient, type ApiClient, type WsTestClient } from './clients.ts';
import type { TestServer } from './server.ts';

// ---------------------------------------------------------------------------------------------
// Stored state

// Reads go through Drizzle's relational query API, whose callbacks hand us the operators
// (drizzle-orm itself is not a dependency of this package).

export async function sessionRow(server: TestServer, id: string): Promise<Session> {
  const row = await server.app.deps.db.query.sessions.findFirst({ where: (s, { eq }) => eq(s.id, id) });
  if (!row) throw new Error(`no session row ${id}`);
  return row;
}

export async function sessionRowsOf(server: TestServer, userId: string): Promise<Session[]> {
  return server.app.deps.db.query.sessions.findMany({
    where: (s, { eq }) => eq(s.userId, userId),
    orderBy: (s, { asc }) => [asc(s.createdAt)],
  });
}

export async function userRow(server: TestServer, id: string): Promise<User> {
  const row = await server.app.deps.db.query.users.findFirst({ where: (u, { eq }) => eq(u.id, id) });
  if (!row) throw new Error(`no user row ${id}`);
  return row;
}

export async function refreshTokenRows(server: TestServer, sessionId: string): Promise<RefreshToken[]> {
  return server.app.deps.db.query.refreshTokens.findMany({
    where: (t, { eq }) => eq(t.sessionId, sessionId),
    orderBy: (t, { asc }) => [asc(t.createdAt)],
  });
}

export async function auditRows(server: TestServer, actions?: string[]): Promise<AuditLog[]> {
  await server.app.deps.audit.flush();
  const rows = await server.app.deps.db.query.auditLogs.findMany({
    where: actions ? (a, { inArray }) => inArray(a.action, actions) : undefined,
  });
  return rows.sort((a, b) => a.at.getTime() - b.at.getTime());
}

export async function auditRowsFor(server: TestServer, action: string, resourceId: string): Promise<AuditLog[]> {
  await server.app.deps.audit.flush();
  return server.app.deps.db.query.auditLogs.findMany({
    where: (a, { and, eq }) => and(eq(a.action, action), eq(a.resourceId, resourceId)),
  });
}

// ---------------------------------------------------------------------------------------------
// Calls

/** Signs in with the refresh token delivered in the body; returns the whole answer. */
export async function loginForBody(server: TestServer, user: { email: string; password: string }, headers: Record<string, string> = {}) {
  const res = await httpClient(server, { headers }).auth.login.mutate({
    email: user.email,
    password: user.password,
    refreshTokenDelivery: 'body',
  });
  const refreshToken = bodyRefreshToken(res);
  if (!refreshToken) throw new Error('login with body delivery returned no refresh token');
  return { ...res, refreshToken, sessionId: sidOf(res.accessToken) };
}

/** The `refreshToken` field of a login/refresh answer, if the server put one there. */
export function bodyRefreshToken(res: object): string | undefined {
  return 'refreshToken' in res && typeof res.refreshToken === 'string' ? res.refreshToken : undefined;
}

/** The session id (`sid` claim) an access token was minted for. */
export function sidOf(accessToken: string): string {
  const sid = decodeJwt(accessToken).payload.sid;
  if (typeof sid !== 'string') throw new Error('access token has no sid claim');
  return sid;
}

/** A client that sends `token` as its bearer token. */
export function bearer(server: TestServer, token: string, opts: { batch?: boolean } = {}): ApiClient {
  return httpClient(server, { token, ...opts });
}

/** Asserts the call fails as unauthenticated (UNAUTHORIZED, HTTP 401) and returns the error data. */
export async function expectUnauthorized(promise: Promise<unknown>) {
  const err = await rejectionOf(promise);
  const data = errorData(err);
  expect(data.code).toBe('UNAUTHORIZED');
  expect(data.httpStatus).toBe(401);
  return { err, data };
}

/**
 * The token no longer authenticates: refused by auth.me (which re-reads the session itself) and
 * by sessions.list, which has only the authentication middleware between it and the data.
 */
export async function expectTokenRejected(server: TestServer, token: string) {
  const client = bearer(server, token);
  const me = await expectUnauthorized(client.auth.me.query());
  await expectUnauthorized(client.sessions.list.query());
  return me;
}

// ---------------------------------------------------------------------------------------------
// JWTs by hand

export function b64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) throw new Error(`not a JWT: ${token}`);
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>,
    signature: s,
  };
}

/** An HS256 (or unsigned, for alg "none") compact JWT built with node:crypto only. */
export function craftJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: Uint8Array | null): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = key ? createHmac('sha256', key).update(signingInput).digest('base64url') : '';
  return `${signingInput}.${signature}`;
}

/**
 * The access-token signing key the server derives from its JWT secret (HKDF-SHA256, purpose
 * label as in services/tokens.ts). Tests that use it also check that a token signed with it and
 * correct claims IS accepted, so a change in the derivation shows up as a failure, not a pass.
 */
export function accessTokenKey(secret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), 'tapevision access-token v1', 32));
}

// ---------------------------------------------------------------------------------------------
// Waiting

export async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs: number, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A tRPC WebSocket client whose underlying socket's close events are recorded with their time. */
export interface TrackedSocket extends WsTestClient {
  rawCloses: { code: number; reason: string; at: number }[];
}

/** Records the raw `ws` close event (code, reason, when) of the client's current connection. */
export function trackRawCloses(ws: WsTestClient): TrackedSocket {
  const raw = ws.client.connection?.ws;
  if (!raw) throw new Error('the WebSocket client has no connection yet');
  const rawCloses: TrackedSocket['rawCloses'] = [];
  raw.addEventListener('close', (event) => {
    rawCloses.push({ code: event.code, reason: String(event.reason ?? ''), at: Date.now() });
  });
  return Object.assign(ws, { rawCloses });
}

/** A tRPC WebSocket client signed in with `token`, proven authenticated (and registered) by one auth.me. */
export async function openSocket(server: TestServer, token: string): Promise<TrackedSocket> {
  const ws = wsClient(server, { token });
  try {
    await ws.trpc.auth.me.query();
    return trackRawCloses(ws);
  } catch (err) {
    await ws.close();
    throw err;
  }
}

/**
 * The session's socket must be closed by the server with 4001 (session revoked) within a second
 * of `since` (when the revoking call returned).
 */
export async function expectRevokedClose(ws: TrackedSocket, since: number) {
  const close = await waitFor(() => ws.rawCloses[0], Math.max(50, since + 1_500 - Date.now()), 'the server to close the WebSocket');
  expect(close.code).toBe(4001);
  expect(close.at - since).toBeLessThanOrEqual(1_000);
  // The tRPC client saw the same close.
  expect(ws.closes[0]?.code).toBe(4001);
  return { ...close, elapsedMs: close.at - since };
}

/** A socket that must survive: still open after `ms`, and still answering. */
export async function expectStaysOpen(ws: TrackedSocket, sessionId: string, ms = 600) {
  await sleep(ms);
  expect(ws.rawCloses).toEqual([]);
  expect(ws.closes).toEqual([]);
  const me = await ws.trpc.auth.me.query();
  expect(me.sessionId).toBe(sessionId);
}
