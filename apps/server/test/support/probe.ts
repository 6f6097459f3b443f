/**
 * Helpers for the security tests: raw HTTP calls by procedure path, the router's procedure list,
 * audit-table reads, a client that records every response body, distinct client IPs.
 */
import http from 'node:http';
import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import { appRouter, type AppRouter } from '@tapevision/api';
import { auditLogs, loginIpThrottles, sessions, users, type AuditLog, type Session, type User } from '@tapevision/db';
import type { ApiClient } from './clients.ts';
import type { TestServer } from './server.ts';

export type ProcedureType = 'query' | 'mutation' | 'subscription';

export interface ProcedureInfo {
  path: string;
  type: ProcedureType;
  meta: unknown;
}

/** Every procedure of the app router, nested routers flattened to dotted paths. */
export function listProcedures(): ProcedureInfo[] {
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: ProcedureType; meta?: unknown } }>;
  return Object.entries(procedures).map(([path, p]) => ({ path, type: p._def.type, meta: p._def.meta }));
}

export function isPublicMeta(meta: unknown): boolean {
  return typeof meta === 'object' && meta !== null && (meta as { access?: unknown }).access === 'public';
}

export function metaPermission(meta: unknown): string | undefined {
  if (typeof meta !== 'object' || meta === null) return undefined;
  const m = meta as { access?: unknown; permission?: unknown };
  return m.access === 'permission' && typeof m.permission === 'string' ? m.permission : undefined;
}

export interface RawError {
  code?: number;
  message?: string;
  data?: { code?: string; httpStatus?: number; reason?: string; permission?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RawResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
  /** The tRPC error in the body (or, for a subscription, its first serialized error event). */
  error: RawError | null;
}

export interface RawCallOptions {
  input?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  /** How long to wait for a subscription's first event (a live, silent one yields none). */
  subscriptionWaitMs?: number;
}

/**
 * Calls one procedure by path with plain fetch, no tRPC client in between: queries as GET,
 * mutations as POST, subscriptions as the SSE stream the HTTP adapter serves (read until its
 * first error or data event).
 */
export async function rawCall(server: Pick<TestServer, 'trpcUrl'>, path: string, type: ProcedureType, opts: RawCallOptions = {}): Promise<RawResult> {
  const headers: Record<string, string> = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers };
  const inputQuery = opts.input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(opts.input))}`;
  if (type === 'subscription') return rawSubscription(`${server.trpcUrl}/${path}${inputQuery}`, headers, opts.subscriptionWaitMs ?? 5_000);
  const res =
    type === 'query'
      ? await fetch(`${server.trpcUrl}/${path}${inputQuery}`, { headers })
      : await fetch(`${server.trpcUrl}/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          ...(opts.input === undefined ? {} : { body: JSON.stringify(opts.input) }),
        });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const error = json && typeof json === 'object' && 'error' in json ? ((json as { error: RawError }).error ?? null) : null;
  return { status: res.status, headers: res.headers, text, json, error };
}

async function rawSubscription(url: string, headers: Record<string, string>, waitMs: number): Promise<RawResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), waitMs);
  let text = '';
  let status = 0;
  let resHeaders = new Headers();
  let found: { name: string; data: unknown } | null = null;
  try {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    status = res.status;
    resHeaders = res.headers;
    if (res.body) {
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      while (!found) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        found = firstInterestingEvent(text);
      }
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  const error = found?.name === 'serialized-error' ? (found.data as RawError) : null;
  return { status, headers: resHeaders, text, json: found?.data ?? null, error };
}

function firstInterestingEvent(text: string): { name: string; data: unknown } | null {
  for (const block of text.split('\n\n').slice(0, -1)) {
    let name = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trim());
    }
    if (name === 'connected' || name === 'ping') continue;
    if (data.length === 0) continue;
    try {
      return { name, data: JSON.parse(data.join('\n')) };
    } catch {
      return { name, data: data.join('\n') };
    }
  }
  return null;
}

/** Sends a request with an exact, unnormalised path (fetch would resolve `..` and `%2e%2e`). */
export function rawGet(server: Pick<TestServer, 'url'>, rawPath: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port: Number(port), path: rawPath, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A tRPC client that counts its HTTP requests and keeps every response body, for leak scans. */
export interface TracedClient {
  client: ApiClient;
  bodies: string[];
  readonly requests: number;
}

export function tracedClient(
  server: Pick<TestServer, 'trpcUrl'>,
  opts: { token?: string | (() => string | null | undefined); headers?: Record<string, string>; batch?: boolean } = {},
): TracedClient {
  const bodies: string[] = [];
  let requests = 0;
  const link = opts.batch === false ? httpLink : httpBatchLink;
  const client = createTRPCClient<AppRouter>({
    links: [
      link({
        url: server.trpcUrl,
        headers: () => {
          const token = typeof opts.token === 'function' ? opts.token() : opts.token;
          return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers };
        },
        fetch: async (input, init) => {
          requests += 1;
          const res = await fetch(input as string, init as RequestInit);
          bodies.push(await res.clone().text());
          return res;
        },
      }),
    ],
  });
  return {
    client,
    bodies,
    get requests() {
      return requests;
    },
  };
}

export async function auditRows(server: TestServer, filter: (row: AuditLog) => boolean = () => true): Promise<AuditLog[]> {
  await server.app.deps.audit.flush();
  const rows = await server.app.deps.db.select().from(auditLogs);
  return rows.filter(filter).sort((a, b) => a.at.getTime() - b.at.getTime());
}

export async function userRow(server: TestServer, id: string): Promise<User | undefined> {
  const rows = await server.app.deps.db.select().from(users);
  return rows.find((u) => u.id === id);
}

export async function allUsers(server: TestServer): Promise<User[]> {
  return server.app.deps.db.select().from(users);
}

export async function sessionRows(server: TestServer, userId?: string): Promise<Session[]> {
  const rows = await server.app.deps.db.select().from(sessions);
  return userId ? rows.filter((s) => s.userId === userId) : rows;
}

export async function ipThrottleRows(server: TestServer) {
  return server.app.deps.db.select().from(loginIpThrottles);
}

let ipCounter = 0;
/** A distinct documentation-range client IP per call, for X-Forwarded-For behind trustProxy. */
export function nextIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

/** Every key anywhere in a JSON value, for "no `stack` anywhere" checks. */
export function allKeys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) allKeys(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      allKeys(v, out);
    }
  }
  return out;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

let sampleCounter = 0;
/**
 * A valid input for each known procedure, aimed at `targetUserId` where one is needed. Unknown
 * (future) procedures get none: authentication and authorisation run before input parsing.
 */
export function sampleInput(path: string, targetUserId: string): unknown {
  sampleCounter += 1;
  switch (path) {
    case 'auth.login':
      return { email: `nobody-${sampleCounter}@desk.example`, password: 'not-a-real-password' };
    case 'auth.changePassword':
      return { currentPassword: 'surely-not-the-current-one', newPassword: `amber-orchard-${sampleCounter}-nebula-kettle` };
    case 'sessions.revoke':
      return { sessionId: '00000000-0000-4000-8000-000000000000' };
    case 'users.list':
      return { limit: 5 };
    case 'users.create':
      return { email: `sample-${sampleCounter}-${Math.random().toString(36).slice(2, 7)}@desk.example`, role: 'viewer' };
    case 'users.update':
      return { id: targetUserId, status: 'active' };
    case 'users.unlock':
    case 'users.resetPassword':
    case 'users.sessions':
    case 'users.revokeSessions':
    case 'users.revokeAccess':
      return { id: targetUserId };
    default:
      return undefined;
  }
}
