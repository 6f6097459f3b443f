/**
 * A SIGKILL during a database outage loses no confirmed audit row. The server (a real child
 * process) answers audited calls on its own Postgres, the database is stopped for real
 * (`pg_ctl stop -m immediate`), the server keeps answering the audited calls that need no database
 * (a malformed API key is refused, and audited, before any query), and is SIGKILLed while the
 * database is still down. After the database and then the server (same DATA_DIR) are started again,
 * every call whose audited answer came back, before the outage or during it, has its row, and the
 * log verifies. Batched (MEDIUM) rows are the point: they are the ones that used to wait in memory
 * while the database refused them (issue 14: "28 of 143 lost").
 *
 * The file starts a private Postgres in both test passes (it never stops the shared one and does
 * not use TEST_DATABASE_URL), so it runs, unchanged, on every pass.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { auditLogs, openDatabase } from '@tapevision/db';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { startPrivatePostgres } from './support/private-postgres.ts';
import { killAllServerProcesses, runServerCli, startServerProcess } from './support/process.ts';
import { createFreshDatabase } from './support/server.ts';
import { strongPassword } from './support/users.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  await killAllServerProcesses();
});
afterAll(async () => {
  await killAllServerProcesses();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** What came back: request id → the audit action its answer promises, and when it came. */
interface Answered {
  action: string;
  at: number;
}

/**
 * Failed sign-ins (they need the database, so they are confirmed before the outage only) and calls
 * with a malformed API key (refused before any query, so confirmed during the outage as well);
 * both are MEDIUM rows of the batched writer.
 */
function startLoad(trpcUrl: string) {
  const answered = new Map<string, Answered>();
  let stopped = false;
  let n = 0;
  const client = (requestId: string, headers: Record<string, string> = {}) =>
    httpClient({ trpcUrl }, { headers: { 'x-request-id': requestId, ...headers }, batch: false });
  const loop = async (body: (requestId: string) => Promise<string | null>) => {
    while (!stopped) {
      const requestId = `outage-crash-${++n}`;
      const action = await body(requestId).catch(() => null);
      if (action) answered.set(requestId, { action, at: Date.now() });
      // No answer (the server is gone) or a 503 (the database is): nothing to count; pace the retries.
      else await new Promise((r) => setTimeout(r, 20));
    }
  };
  const failedLogin = async (id: string) => {
    const err = await rejectionOf(
      client(id).auth.login.mutate({ email: `ghost-${id}@desk.example`, password: strongPassword() }, { signal: AbortSignal.timeout(8_000) }),
    );
    return errorData(err).code === 'UNAUTHORIZED' ? 'auth.login_failed' : null;
  };
  const malformedKey = async (id: string) => {
    const err = await rejectionOf(client(id, { 'x-api-key': `not-a-key-${id}` }).apiKeys.list.query(undefined, { signal: AbortSignal.timeout(8_000) }));
    return errorData(err).reason === 'API_KEY_MALFORMED' ? 'apikey.auth_failed' : null;
  };
  const loops = [loop(failedLogin), loop(failedLogin), loop(malformedKey), loop(malformedKey)];
  return {
    answered,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function until(what: string, deadlineMs: number, check: () => boolean) {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a SIGKILL during a database outage', () => {
  it('loses no confirmed audit row: the batched rows wait in the spool, and the next start writes them', { timeout: 180_000 }, async () => {
    const pg = await startPrivatePostgres();
    cleanups.push(() => pg.destroy());
    const fresh = await createFreshDatabase(pg.adminUrl);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tv-outage-crash-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = {
      DATA_DIR: dataDir,
      DATABASE_URL: fresh.url,
      // This file is about the audit log, not the limiters or detection (which would block loopback).
      RATE_LIMIT_LOGIN: '1000000',
      RATE_LIMIT_API: '1000000',
      IP_THROTTLE_MAX_FAILURES: '1000000',
      DETECTION_ENABLED: 'false',
      // A long flush interval: when the database stops, a second's worth of confirmed rows is still
      // queued, so the test does not depend on catching a 250 ms window.
      AUDIT_FLUSH_MS: '1000',
      AUDIT_BATCH_SIZE: '1000',
    };

    const first = startServerProcess(env);
    const { trpcUrl } = await first.listening(120_000);
    const load = startLoad(trpcUrl);
    const count = (action: string, since = 0) => [...load.answered.values()].filter((a) => a.action === action && a.at >= since).length;
    await until('load before the outage', 60_000, () => count('auth.login_failed') >= 5 && count('apikey.auth_failed') >= 5);

    const stoppedAt = Date.now();
    await pg.stop();
    // The writer has met the outage (an insert failed), and calls confirmed after that are audited
    // while the database is still down.
    await until('the audit writer to notice the outage', 20_000, () => first.stdout.includes('audit write failed'));
    const noticedAt = Date.now();
    await until('calls confirmed during the outage', 20_000, () => count('apikey.auth_failed', noticedAt) >= 10);
    first.child.kill('SIGKILL');
    await first.exited;
    await load.stop();
    expect(pg.running, 'the database is still down at the kill').toBe(false);
    const answered = load.answered;
    expect(count('apikey.auth_failed', stoppedAt), 'calls confirmed during the outage').toBeGreaterThanOrEqual(10);

    // The killed process left its rows in DATA_DIR/audit-spool; the next start adopts and writes them.
    const spoolDir = path.join(dataDir, 'audit-spool');
    const spooled = existsSync(spoolDir) && readdirSync(spoolDir).some((f) => f.endsWith('.ndjson') || f.endsWith('.draining'));
    await pg.start();
    const second = startServerProcess(env);
    await second.listening(120_000);
    const stopped = await second.stop();
    expect(stopped.code, second.stdout + second.stderr).toBe(0);
    expect(existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson') || f.endsWith('.draining')) : [], 'spool left undrained').toEqual([]);

    const handle = await openDatabase({ url: fresh.url });
    let audit: (typeof auditLogs.$inferSelect)[];
    try {
      audit = await handle.db.select().from(auditLogs);
    } finally {
      await handle.close();
    }
    const byRequest = new Map(audit.map((r) => [`${r.requestId}:${r.action}`, r]));
    const missing = [...answered]
      .filter(([requestId, { action }]) => !byRequest.has(`${requestId}:${action}`))
      .map(([requestId, { action, at }]) => `${requestId} ${action} answered ${at < stoppedAt ? `${stoppedAt - at} ms before` : `${at - stoppedAt} ms into`} the outage`);
    expect(missing).toEqual([]);
    expect(spooled, 'the killed process left its rows in the spool').toBe(true);
    // One row per answer, no doubles from a batch that was both in flight and spooled.
    const ours = audit.filter((r) => r.requestId?.startsWith('outage-crash-'));
    expect(new Set(ours.map((r) => `${r.requestId}:${r.action}`)).size).toBe(ours.length);

    const verify = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('Audit log: OK');
  });
});
