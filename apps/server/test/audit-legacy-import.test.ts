/**
 * Rows written before the log was chained (moved to audit_logs_legacy by migration 0002) are
 * chained into the log once, at start-up, and then verify like any other chain.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLegacyAuditRows, verifyAuditLog } from '@tapevision/api';
import { queryRows, sql } from '@tapevision/db';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

it('chains the pre-chain rows in time order, drops the holding table, and does it only once', async () => {
  const db = server.app.deps.db;
  // The shape audit_logs had before migration 0002.
  await db.execute(sql`create table audit_logs_legacy (
    id uuid primary key, at timestamptz not null, actor_type text not null, actor_id text, action text not null,
    outcome text not null, severity text not null, resource_type text, resource_id text, ip text, user_agent text,
    request_id text, details jsonb not null default '{}')`);
  await db.execute(sql`insert into audit_logs_legacy (id, at, actor_type, actor_id, action, outcome, severity, ip, request_id, details) values
    ('00000000-0000-4000-8000-000000000002', '2026-01-02T10:00:00.123456Z', 'user', 'u1', 'auth.logout', 'success', 'LOW', '192.0.2.1', 'legacy-2', '{}'),
    ('00000000-0000-4000-8000-000000000001', '2026-01-01T10:00:00Z', 'anonymous', null, 'auth.login_failed', 'failure', 'MEDIUM', '192.0.2.2', 'legacy-1', '{"reason":"bad_password","n":[1,2]}')`);

  expect(await importLegacyAuditRows(db, server.app.deps.auditIntegrity.keys)).toBe(2);
  expect(await importLegacyAuditRows(db, server.app.deps.auditIntegrity.keys)).toBe(0);

  const rows = await queryRows<{ request_id: string; seq: string | number; chain_id: string }>(
    db,
    sql`select request_id, seq, chain_id from audit_logs where request_id like 'legacy-%' order by seq`,
  );
  expect(rows.map((r) => [r.request_id, Number(r.seq)])).toEqual([
    ['legacy-1', 1],
    ['legacy-2', 2],
  ]);
  expect(rows[0]!.chain_id).toMatch(/^legacy-/);
  const [gone] = await queryRows<{ present: boolean }>(db, sql`select to_regclass('audit_logs_legacy') is not null as present`);
  expect(gone?.present).toBe(false);
  await server.app.deps.audit.flush();
  expect((await verifyAuditLog(server.app.deps)).breaks).toEqual([]);
});
