/**
 * A Tape Vision server for the benchmarks, in its own process: the real app on a free loopback
 * port, with rate limits and WebSocket limits lifted (the load comes from one IP and one user)
 * and, for the baseline only, the audit log replaced by a recorder that does nothing. Prints one
 * JSON line when ready: the URLs and the credentials each scenario uses.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createUser, type AuditRecorder } from '@tapevision/api';
import { createApp, createLogger, loadConfig } from '@tapevision/server';

export interface BenchServerOptions {
  databaseUrl?: string;
  audit: 'on' | 'off';
  /** MARKET_PRINTS_PER_SECOND for the fan-out scenario (the product's default otherwise). */
  printsPerSecond?: number;
}

export interface BenchServer {
  url: string;
  wsUrl: string;
  /** An admin's access token (users.unlock, system.start). */
  token: string;
  /** A viewer's access token (trading.view: market.lastPrices, market.onTape). */
  viewerToken: string;
  /** An API key holding trading.view, made by the admin. */
  apiKey: string;
  targetUserId: string;
  /** A user kept for the auth.login flood, so no other scenario's session is evicted by it. */
  login: { email: string; password: string };
}

const opts = JSON.parse(process.argv[2] ?? '{}') as BenchServerOptions;
const unlimited = { points: 100_000_000, durationSeconds: 60 };
const base = loadConfig({ ...process.env, DATABASE_URL: opts.databaseUrl ?? '' });
const config = {
  ...base,
  port: 0,
  host: '127.0.0.1',
  dataDir: mkdtempSync(path.join(tmpdir(), 'tv-bench-')),
  rateLimits: { login: unlimited, api: unlimited, 'trading.execute': unlimited },
  wsLimits: { ...base.wsLimits, messagesPerMinute: 100_000_000, maxConnectionsPerPrincipal: 100_000 },
  market: { ...base.market, printsPerSecond: opts.printsPerSecond ?? base.market.printsPerSecond },
};
const noAudit: AuditRecorder = { record: async () => {}, flush: async () => {}, close: async () => {} };
const app = await createApp({
  config,
  jwtSecret: randomBytes(32),
  logger: createLogger({ level: 'warn', destination: process.stderr }),
  inMemoryDatabase: !opts.databaseUrl,
  ...(opts.audit === 'off' ? { auditRecorder: noAudit } : {}),
});
const port = await app.listen();
const url = `http://127.0.0.1:${port}`;

const password = `bench-${randomBytes(12).toString('base64url')}-lantern`;
// Unique per start: the audited and unaudited servers of one run share a Postgres database.
const run = randomBytes(4).toString('hex');
const admin = await createUser(app.deps, { email: `bench-admin-${run}@bench.local`, role: 'admin', password, mustChangePassword: false }, null);
const target = await createUser(app.deps, { email: `bench-target-${run}@bench.local`, role: 'viewer', password, mustChangePassword: false }, null);
const flood = await createUser(app.deps, { email: `bench-login-${run}@bench.local`, role: 'viewer', password, mustChangePassword: false }, null);

async function call<T>(procedure: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(`${url}/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${procedure}: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { result: { data: T } }).result.data;
}
const signIn = async (email: string) => (await call<{ accessToken: string }>('auth.login', { email, password })).accessToken;
const token = await signIn(admin.user.email);
const viewerToken = await signIn(target.user.email);
const { key: apiKey } = await call<{ key: string }>('apiKeys.create', { name: 'bench', permissions: ['trading.view'] }, token);

const ready: BenchServer = {
  url,
  wsUrl: `ws://127.0.0.1:${port}/trpc`,
  token,
  viewerToken,
  apiKey,
  targetUserId: target.user.id,
  login: { email: flood.user.email, password },
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
