/**
 * A Tape Vision server for the benchmarks, in its own process: the real app on a free loopback
 * port, with rate limits lifted (the load comes from one IP and one user) and, for the baseline
 * only, the audit log replaced by a recorder that does nothing. Prints one JSON line when ready.
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
}

export interface BenchServer {
  url: string;
  token: string;
  targetUserId: string;
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
const login = await fetch(`${url}/trpc/auth.login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email: admin.user.email, password }),
});
const token = ((await login.json()) as { result: { data: { accessToken: string } } }).result.data.accessToken;

const ready: BenchServer = { url, token, targetUserId: target.user.id };
process.stdout.write(`${JSON.stringify(ready)}\n`);

process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
