/**
 * Helpers for the rate-limit tests: client IPs no other test (or earlier run against the same
 * Redis) uses, sign-in from a given IP, parallel bursts of raw calls, and the RateLimit headers.
 */
import { randomBytes } from 'node:crypto';
import { httpClient } from './clients.ts';
import { rawCall, type RawResult } from './probe.ts';

/**
 * A client IP from the IPv6 documentation range with 64 random bits: unique across tests and
 * runs, so limiter keys in a shared Redis (which outlive a run by the window) never collide.
 */
export function uniqueIp(): string {
  const h = randomBytes(8).toString('hex');
  return `2001:db8:${h.slice(0, 4)}:${h.slice(4, 8)}:${h.slice(8, 12)}:${h.slice(12, 16)}::1`;
}

/** Signs in with X-Forwarded-For `ip` (the server must trust the proxy) and returns the access token. */
export async function loginFrom(server: { trpcUrl: string }, user: { email: string; password: string }, ip: string): Promise<string> {
  const res = await httpClient(server, { headers: { 'x-forwarded-for': ip } }).auth.login.mutate({
    email: user.email,
    password: user.password,
    refreshTokenDelivery: 'body',
  });
  return res.accessToken;
}

/** `n` raw calls at once, each its own HTTP request (no batching). */
export async function burst(n: number, call: (i: number) => Promise<RawResult>): Promise<RawResult[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => call(i)));
}

/** n parallel `auth.me` calls with a bearer token, spread over the given servers in turn. */
export function meBurst(servers: { trpcUrl: string }[], token: string, n: number, headers: Record<string, string> = {}): Promise<RawResult[]> {
  return burst(n, (i) => rawCall(servers[i % servers.length] as { trpcUrl: string }, 'auth.me', 'query', { token, headers }));
}

export function statuses(results: RawResult[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of results) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

// A header lists every budget the request spent, e.g. `"api";r=999;t=900, "apikey";r=2;t=60`:
// pick the named policy, or the last one listed (the one that refused, on a 429).
function entry(header: string | null, policy?: string): string | null {
  const entries = header ? header.split(/,\s*/) : [];
  return (policy ? entries.find((e) => e.startsWith(`"${policy}";`)) : entries.at(-1)) ?? null;
}

/** `"api";r=999;t=900` → { policy: 'api', r: 999, t: 900 }. */
export function parseRateLimit(header: string | null, policy?: string): { policy: string; r: number; t: number } | null {
  const e = entry(header, policy);
  const m = e ? /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(e) : null;
  return m ? { policy: m[1] as string, r: Number(m[2]), t: Number(m[3]) } : null;
}

/** `"api";q=1000;w=900` → { policy: 'api', q: 1000, w: 900 }. */
export function parseRateLimitPolicy(header: string | null, policy?: string): { policy: string; q: number; w: number } | null {
  const e = entry(header, policy);
  const m = e ? /^"([^"]+)";q=(\d+);w=(\d+)$/.exec(e) : null;
  return m ? { policy: m[1] as string, q: Number(m[2]), w: Number(m[3]) } : null;
}
