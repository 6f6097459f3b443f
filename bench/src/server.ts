/**
 * A Tape Vision server for the benchmarks, in its own process: the real app on a free loopback
 * port, with rate limits and WebSocket limits lifted (the load comes from one IP and one user)
 * and, for the baseline only, the audit log replaced by a recorder that does nothing. Prints one
 * JSON line when ready: the URLs and the credentials each scenario uses.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createUser, type AuditRecorder } from '@tapevision/api';
import { createApp, createLogger, loadConfig } from '@tapevision/server';

export interface BenchServerOptions {
  databaseUrl?: string;
  /** The audit log at start; `POST {controlUrl}/audit/on|off` switches it (see auditedMutation). */
  audit: 'on' | 'off';
  /** MARKET_PRINTS_PER_SECOND for the fan-out scenario (the product's default otherwise). */
  printsPerSecond?: number;
  /** DETECTION_ENABLED (on unless 'off'): the detection scenario runs one of each side by side. */
  detection?: 'on' | 'off';
}

export interface BenchServer {
  url: string;
  /** A loopback side door for the harness: `POST /audit/on` and `/audit/off`. */
  controlUrl: string;
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
  rateLimits: { login: unlimited, api: unlimited, 'trading.execute': unlimited, 'trading.reduce': unlimited },
  wsLimits: { ...base.wsLimits, messagesPerMinute: 100_000_000, maxConnectionsPerPrincipal: 100_000 },
  market: { ...base.market, printsPerSecond: opts.printsPerSecond ?? base.market.printsPerSecond },
  // Every load generator connects from 127.0.0.1 (500 fan-out clients among them).
  http: { ...base.http, maxConnectionsPerIp: 0 },
  // The credential-stuffing flood must stay a flood of password checks: no lock-out or IP throttle
  // turns it into cheap refusals. Detection still counts every failure (loopback is trusted, so
  // nothing blocks the load generator).
  security: {
    ...base.security,
    accountLockout: { ...base.security.accountLockout, maxFailures: 100_000_000 },
    ipThrottle: { ...base.security.ipThrottle, maxFailures: 100_000_000 },
  },
  detection: { ...base.detection, enabled: opts.detection !== 'off' },
};
// The unaudited baseline is the same process with the recorder switched off: the audited and
// unaudited runs then share one warmed-up server and database, so only the audit log differs.
let auditing = opts.audit === 'on';
let auditLog: AuditRecorder | null = null;
const switchable = (real: AuditRecorder): AuditRecorder => {
  auditLog = real;
  return {
    record: (event) => (auditing ? real.record(event) : Promise.resolve()),
    recordIn: (tx, event) => (auditing ? real.recordIn(tx, event) : Promise.resolve()),
    committed: () => real.committed(),
    flush: () => real.flush(),
    close: (timeoutMs) => real.close(timeoutMs),
  };
};
const app = await createApp({
  config,
  jwtSecret: randomBytes(32),
  logger: createLogger({ level: 'warn', destination: process.stderr }),
  inMemoryDatabase: !opts.databaseUrl,
  wrapAuditRecorder: switchable,
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

// Switching waits until the rows of the previous run are written, so none of its writes land in the next run.
const control = http.createServer((req, res) => {
  const state = req.method === 'POST' ? /^\/audit\/(on|off)$/.exec(req.url ?? '')?.[1] : undefined;
  if (!state) return void res.writeHead(404).end();
  void (auditLog?.flush() ?? Promise.resolve()).then(() => {
    auditing = state === 'on';
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const controlPort = (control.address() as AddressInfo).port;

const ready: BenchServer = {
  url,
  controlUrl: `http://127.0.0.1:${controlPort}`,
  wsUrl: `ws://127.0.0.1:${port}/trpc`,
  token,
  viewerToken,
  apiKey,
  targetUserId: target.user.id,
  login: { email: flood.user.email, password },
};
process.stdout.write(`${JSON.stringify(ready)}\n`);

process.on('SIGTERM', () => {
  control.close();
  void app.close().then(() => process.exit(0));
});
