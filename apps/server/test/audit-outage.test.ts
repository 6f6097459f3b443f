/**
 * "Never lost": the database stops taking audit rows for a while under steady load, and afterwards
 * every audited action has exactly one row, none duplicated, and every chain still verifies.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyAuditLog, type AuditEvent } from '@tapevision/api';
import { queryRows, sql, type Database } from '@tapevision/db';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer, type TestServerOptions } from './support/server.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import { seedUser, signIn, strongPassword } from './support/users.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// Generous limits: this file measures the audit log, not the rate limiter or brute-force guard.
const LOAD_OPTIONS: TestServerOptions = {
  rateLimits: { api: { points: 1_000_000, durationSeconds: 60 }, login: { points: 1_000_000, durationSeconds: 60 } },
  security: { ipThrottle: { maxFailures: 1_000_000, windowMs: 60_000, blockMs: 60_000 } },
};

const REFUSE_AUDIT = [
  sql.raw(`create or replace function tv_refuse_audit() returns trigger language plpgsql as $$
    begin raise exception 'audit writes refused' using errcode = '53300'; end $$`),
  sql.raw(`create trigger tv_refuse_audit before insert on audit_logs for each statement execute function tv_refuse_audit()`),
];
const ACCEPT_AUDIT = sql.raw(`drop trigger if exists tv_refuse_audit on audit_logs`);

async function refuseAuditWrites(db: Database) {
  for (const statement of REFUSE_AUDIT) await db.execute(statement);
}

/** What the load did: the request ids whose audited action answered, by the action expected. */
interface LoadResult {
  expected: Map<string, string>;
  /** HTTP requests answered with their audited outcome inside the outage window. */
  answeredDuring: number;
  /** Rows the recorder took inside the window (it never blocks on the database). */
  recordedDuring: number;
  answeredAfter: number;
}

/**
 * Steady traffic until stopped: failed sign-ins (MEDIUM, queued), password resets (HIGH, written
 * before the answer), and rows recorded straight through the recorder at a fixed pace.
 */
function startLoad(server: TestServer, adminToken: string, targetIds: [string, string], tag: string) {
  const expected = new Map<string, string>();
  const errors: unknown[] = [];
  let stopped = false;
  let counter = 0;
  let window: { from: number; to: number } | null = null;
  // When each HTTP request was answered: "the service keeps answering" counts these, not the
  // rows recorded straight through the recorder.
  const answeredAt: number[] = [];
  const recordedAt: number[] = [];
  const answered = (requestId: string, action: string, overHttp = true) => {
    expected.set(requestId, action);
    (overHttp ? answeredAt : recordedAt).push(Date.now());
  };

  async function failedLogins() {
    while (!stopped) {
      const requestId = `${tag}-login-${++counter}`;
      const client = httpClient(server, { headers: { 'x-request-id': requestId } });
      const err = await rejectionOf(client.auth.login.mutate({ email: `ghost-${requestId}@desk.example`, password: strongPassword() }));
      // During a full connection outage the sign-in itself is refused (503): no action took place.
      if (errorData(err).code === 'UNAUTHORIZED') answered(requestId, 'auth.login_failed');
    }
  }

  // Password resets: HIGH, and never a no-op (a role change that already happened would be one).
  async function passwordResets(targetId: string) {
    while (!stopped) {
      const requestId = `${tag}-reset-${++counter}`;
      const client = httpClient(server, { token: adminToken, headers: { 'x-request-id': requestId } });
      try {
        await client.users.resetPassword.mutate({ id: targetId });
        answered(requestId, 'user.password_reset');
      } catch (err) {
        // While the connection is cut a reset is refused with 503, never a 500.
        if (errorData(err).code !== 'SERVICE_UNAVAILABLE') errors.push(err);
      }
    }
  }

  async function directRecords() {
    while (!stopped) {
      const requestId = `${tag}-direct-${++counter}`;
      const event: AuditEvent = {
        action: 'audit.viewed',
        outcome: 'success',
        actor: { type: 'system' },
        origin: { ip: '192.0.2.1', userAgent: 'outage-test', requestId },
        details: { n: counter },
      };
      await server.app.deps.audit.record(event);
      answered(requestId, 'audit.viewed', false);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  const workers = Promise.all([failedLogins(), failedLogins(), failedLogins(), passwordResets(targetIds[0]), passwordResets(targetIds[1]), directRecords()]);
  const since = (times: number[], from: number) => times.filter((t) => t >= from).length;
  return {
    /** HTTP requests answered with their audited outcome since `from`. */
    answeredSince: (from: number) => since(answeredAt, from),
    markOutage(from: number, to: number) {
      window = { from, to };
    },
    async stop(): Promise<LoadResult> {
      stopped = true;
      await workers;
      expect(errors).toEqual([]);
      const within = (times: number[]) => (window ? times.filter((t) => t >= window!.from && t <= window!.to).length : 0);
      const after = window ? answeredAt.filter((t) => t > window!.to).length : 0;
      return { expected, answeredDuring: within(answeredAt), recordedDuring: within(recordedAt), answeredAfter: after };
    },
  };
}

async function twoViewers(server: TestServer): Promise<[string, string]> {
  return [(await seedUser(server, 'viewer')).id, (await seedUser(server, 'viewer')).id];
}

/** Rows per request id for the actions the load expected. */
async function rowsByRequest(db: Database | postgres.Sql, tag: string): Promise<Map<string, { action: string; n: number }[]>> {
  const query = `select request_id, action, count(*)::int as n from audit_logs where request_id like '${tag}-%' group by request_id, action`;
  const rows =
    typeof db === 'function'
      ? await (db as postgres.Sql).unsafe<{ request_id: string; action: string; n: number }[]>(query)
      : await queryRows<{ request_id: string; action: string; n: number }>(db as Database, sql.raw(query));
  const byRequest = new Map<string, { action: string; n: number }[]>();
  for (const row of rows) byRequest.set(row.request_id, [...(byRequest.get(row.request_id) ?? []), { action: row.action, n: row.n }]);
  return byRequest;
}

function expectExactlyOnce(expected: Map<string, string>, found: Map<string, { action: string; n: number }[]>) {
  const missing: string[] = [];
  const doubled: string[] = [];
  for (const [requestId, action] of expected) {
    const hit = found.get(requestId)?.find((r) => r.action === action);
    if (!hit) missing.push(requestId);
    else if (hit.n !== 1) doubled.push(`${requestId} x${hit.n}`);
  }
  for (const [requestId, rows] of found) for (const r of rows) if (r.n > 1) doubled.push(`${requestId}/${r.action} x${r.n}`);
  expect({ missing, doubled }).toEqual({ missing: [], doubled: [] });
}

/**
 * Holds for at least `minMs`, then until `enough()` or `maxMs`: the counts below are asserted
 * afterwards, so a slow machine gets more time instead of a flaky failure.
 */
async function holdFor(minMs: number, maxMs: number, enough: () => boolean) {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, minMs));
  while (!enough() && Date.now() - start < maxMs) await new Promise((r) => setTimeout(r, 100));
}

const spoolFiles = (dataDir: string) => {
  const dir = path.join(dataDir, 'audit-spool');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ndjson') || f.endsWith('.draining')) : [];
};

// Each test holds its load longer on a slow machine (holdFor) rather than failing.
describe('audit log under a database outage', { timeout: 90_000 }, () => {
  it('loses nothing and doubles nothing while the database refuses audit rows under steady load', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tv-outage-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // A small memory queue, so the outage also spills rows to the spool file.
    const server = await startTestServer({ ...LOAD_OPTIONS, dataDir, audit: { maxQueue: 50 } });
    cleanups.push(() => server.close());
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const targets = await twoViewers(server);

    const load = startLoad(server, admin.token, targets, 'refuse');
    await new Promise((r) => setTimeout(r, 1_000));
    await refuseAuditWrites(server.app.deps.db);
    const outageFrom = Date.now();
    await holdFor(2_000, 20_000, () => load.answeredSince(outageFrom) > 20 && spoolFiles(dataDir).length > 0);
    load.markOutage(outageFrom, Date.now());
    // While the database refuses, rows wait in the spool file (from its first refusal on).
    expect(spoolFiles(dataDir).length).toBeGreaterThan(0);
    await server.app.deps.db.execute(ACCEPT_AUDIT);
    await new Promise((r) => setTimeout(r, 1_000));
    const result = await load.stop();
    await server.app.deps.audit.flush();

    // The service kept answering throughout.
    expect(result.answeredDuring).toBeGreaterThan(20);
    expect(result.expected.size).toBeGreaterThan(100);
    expectExactlyOnce(result.expected, await rowsByRequest(server.app.deps.db, 'refuse'));
    expect(spoolFiles(dataDir)).toEqual([]);
    const report = await verifyAuditLog(server.app.deps);
    expect(report.breaks).toEqual([]);
    expect(server.logs.join('')).toContain('audit write failed; rows kept and retried');
  });

  it('loses nothing and doubles nothing when the connection to Postgres is cut for a while', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    cleanups.push(() => fresh.drop());
    const target = new URL(fresh.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    cleanups.push(() => proxy.close());
    const server = await startTestServer({ ...LOAD_OPTIONS, databaseUrl: proxy.urlFor(fresh.url), audit: { maxQueue: 200 } });
    cleanups.push(() => server.close());
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const targets = await twoViewers(server);

    const load = startLoad(server, admin.token, targets, 'cut');
    await new Promise((r) => setTimeout(r, 1_000));
    const outageFrom = Date.now();
    await proxy.outage(2_000);
    const outageTo = Date.now();
    load.markOutage(outageFrom, outageTo);
    // Reconnecting takes the pool a moment, longer on a loaded machine.
    await holdFor(1_500, 30_000, () => load.answeredSince(outageTo + 1) > 10);
    const result = await load.stop();
    await server.app.deps.audit.flush();

    expect(proxy.cut).toBeGreaterThan(0);
    // With the connection gone, requests that need the database fail; the recorder still took
    // every row offered, and requests were answered again once the connection was back.
    expect(result.recordedDuring).toBeGreaterThan(20);
    expect(result.answeredAfter).toBeGreaterThan(10);
    const direct = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      expectExactlyOnce(result.expected, await rowsByRequest(direct, 'cut'));
    } finally {
      await direct.end();
    }
    const report = await verifyAuditLog(server.app.deps);
    expect(report.breaks).toEqual([]);
  });

  it('keeps rows spooled at shutdown during an outage, and the next server on the same DATA_DIR writes them', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    cleanups.push(() => fresh.drop());
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tv-outage-restart-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await startTestServer({ ...LOAD_OPTIONS, databaseUrl: fresh.url, dataDir, audit: { shutdownFlushMs: 300 } });
    const admin = await signIn(first, await seedUser(first, 'admin'));
    const targets = await twoViewers(first);

    await refuseAuditWrites(first.app.deps.db);
    const load = startLoad(first, admin.token, targets, 'restart');
    await new Promise((r) => setTimeout(r, 1_000));
    const result = await load.stop();
    // Shutdown cannot reach the database: what is queued is made durable in the spool instead.
    await first.close();
    expect(spoolFiles(dataDir).length).toBeGreaterThan(0);

    const direct = postgres(fresh.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => direct.end());
    await direct.unsafe('drop trigger if exists tv_refuse_audit on audit_logs');
    const second = await startTestServer({ databaseUrl: fresh.url, dataDir });
    cleanups.push(() => second.close());
    await second.app.deps.audit.flush();

    expect(result.expected.size).toBeGreaterThan(20);
    expectExactlyOnce(result.expected, await rowsByRequest(direct, 'restart'));
    expect(spoolFiles(dataDir)).toEqual([]);
    const report = await verifyAuditLog(second.app.deps);
    expect(report.breaks).toEqual([]);
  });

  it('answers a HIGH-severity action only once its row is durable, even with the database refusing', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tv-outage-high-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const server = await startTestServer({ ...LOAD_OPTIONS, dataDir });
    cleanups.push(() => server.close());
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const target = await seedUser(server, 'viewer');
    await refuseAuditWrites(server.app.deps.db);
    const started = Date.now();
    await admin.client.users.resetPassword.mutate({ id: target.id });
    // It did not hang on the refusing database...
    expect(Date.now() - started).toBeLessThan(5_000);
    // ...and when it answered, the row was already durable: a state change's row commits with the
    // change (audit_outbox), and waits there while audit_logs refuses it.
    const pending = await queryRows<{ n: number }>(
      server.app.deps.db,
      sql`select count(*)::int as n from audit_outbox where action = 'user.password_reset' and resource_id = ${target.id}`,
    );
    expect(pending[0]?.n).toBe(1);
    await server.app.deps.db.execute(ACCEPT_AUDIT);
    // Once the database takes rows again the waiting one lands, exactly once (a retry still in
    // its backoff on a loaded machine may take a moment longer than one flush).
    const count = async () =>
      (
        await queryRows<{ n: number }>(
          server.app.deps.db,
          sql`select count(*)::int as n from audit_logs where action = 'user.password_reset' and resource_id = ${target.id}`,
        )
      )[0]?.n;
    for (let tries = 0; tries < 50 && (await count()) === 0; tries++) {
      await server.app.deps.audit.flush();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await count()).toBe(1);
    expect(spoolFiles(dataDir)).toEqual([]);
  });
});
