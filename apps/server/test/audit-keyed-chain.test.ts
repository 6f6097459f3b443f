/**
 * Tamper evidence against someone who can write to the database but holds neither the audit key
 * nor DATA_DIR: each attack is made with SQL on a real server's database, and audit.verify (and
 * `pnpm audit:verify`) names it. Rows are HMAC-SHA256 under AUDIT_KEY, anchors are signed by
 * retention, keyless rows are accepted only where the cut-over sealed them, and signed checkpoints
 * in DATA_DIR/audit-checkpoints pin every chain's head outside the database.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { sealLegacyChains, verifyAuditLog, type AuditBreak, type VerifyReport } from '@tapevision/api';
import { auditChains, auditLogs, openDatabase, sql, type AuditLog, type Database } from '@tapevision/db';
import { killAllServerProcesses, runServerCli } from './support/process.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, TEST_AUDIT_KEY, type TestServer, type TestServerOptions } from './support/server.ts';
import { seedUser, signIn } from './support/users.ts';

const DAY_MS = 24 * 3600 * 1000;
const GENESIS = '0'.repeat(64);
const SLOW_TEST = { timeout: 120_000 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAllServerProcesses();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tv-${prefix}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Desk {
  server: TestServer;
  dataDir: string;
  checkpoints: string;
}

/** A server for one test, with a DATA_DIR the test can read (its checkpoint file lives there). */
async function ownDesk(opts: TestServerOptions = {}): Promise<Desk> {
  const dataDir = opts.dataDir ?? tempDir('keyed');
  const server = await startTestServer({ ...opts, dataDir });
  onTestFinished(() => server.close());
  return { server, dataDir, checkpoints: path.join(dataDir, 'audit-checkpoints') };
}

async function record(server: TestServer, marker: string, n: number): Promise<AuditLog[]> {
  for (let i = 0; i < n; i++) {
    await server.app.deps.audit.record({
      action: 'audit.viewed',
      outcome: 'success',
      actor: { type: 'user', id: `reader-${marker}` },
      origin: { ip: '203.0.113.9', userAgent: 'keyed-test', requestId: `${marker}-${i}` },
      details: { marker, i },
    });
  }
  return (await chainRows(server.app.deps.db, server)).filter((r) => r.details.marker === marker);
}

async function chainRows(db: Database, server?: TestServer): Promise<AuditLog[]> {
  await server?.app.deps.audit.flush();
  const rows = await db.select().from(auditLogs);
  return rows.sort((a, b) => (a.chainId === b.chainId ? a.seq - b.seq : a.chainId < b.chainId ? -1 : 1));
}

function exec(server: TestServer, query: ReturnType<typeof sql>) {
  return server.app.deps.db.execute(query);
}

/** JSON with sorted keys, as the chain hashes it. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** The plain SHA-256 a row had before the audit key (and all a forger without the key can compute). */
function sha256Hash(row: AuditLog, prevHash: string): string {
  const { id: _id, hash: _hash, prevHash: _prev, keyId: _keyId, at, ...rest } = row;
  return createHash('sha256').update(`${prevHash}\n${canonical({ ...rest, at: at.toISOString() })}`).digest('hex');
}

/** Rewrites rows (in chain order) as a forger would: plain SHA-256, relinked, key id kept or dropped. */
async function rehash(db: Database, rows: AuditLog[], prevHash: string, opts: { dropKey?: boolean } = {}): Promise<string> {
  let prev = prevHash;
  for (const row of rows) {
    const hash = sha256Hash(row, prev);
    await db.execute(
      sql`update audit_logs set prev_hash = ${prev}, hash = ${hash}, key_id = ${opts.dropKey ? null : row.keyId} where id = ${row.id}`,
    );
    prev = hash;
  }
  return prev;
}

async function expectOnly(server: TestServer, expected: Partial<AuditBreak> & { kind: AuditBreak['kind'] }): Promise<AuditBreak> {
  const report = await verifyAuditLog(server.app.deps);
  expect(report.ok, JSON.stringify(report.breaks)).toBe(false);
  expect(report.breaks).toEqual([expect.objectContaining(expected)]);
  return report.breaks[0]!;
}

describe('a forger with write access to the database, without the key', () => {
  it('rewrites a suffix of a chain and re-hashes it, head included: changed, at the first altered row', async () => {
    const { server } = await ownDesk();
    const rows = await record(server, 'suffix', 8);
    const all = await chainRows(server.app.deps.db);
    const from = all.findIndex((r) => r.id === rows[3]!.id);
    const suffix = all.slice(from).map((r) => ({ ...r, outcome: 'failure' }));
    await exec(server, sql`update audit_logs set outcome = 'failure' where chain_id = ${rows[3]!.chainId} and seq >= ${rows[3]!.seq}`);
    const head = await rehash(server.app.deps.db, suffix, all[from - 1]!.hash);
    await exec(server, sql`update audit_chains set head_hash = ${head} where chain_id = ${rows[3]!.chainId}`);

    const found = await expectOnly(server, { kind: 'changed', chainId: rows[3]!.chainId, seq: rows[3]!.seq, rowId: rows[3]!.id });
    expect(found.message).toBe(`row ${rows[3]!.seq} of chain ${rows[3]!.chainId} was changed after it was written`);
  });

  it('marks forged rows as keyless (legacy) after the cut-over: unkeyed, in a new chain and appended to a live one', async () => {
    const { server } = await ownDesk();
    const rows = await record(server, 'legacy-forge', 3);
    const chainId = rows[0]!.chainId;
    const db = server.app.deps.db;
    // A whole chain of its own, registered in audit_chains as a writer would.
    const forged = { ...rows[0]!, id: randomUUID(), chainId: 'forged-legacy', seq: 1, keyId: null, details: { role: 'admin' } };
    const forgedHash = sha256Hash(forged, GENESIS);
    await db.insert(auditLogs).values({ ...forged, prevHash: GENESIS, hash: forgedHash });
    await db.insert(auditChains).values({ chainId: 'forged-legacy', anchorHash: GENESIS, headSeq: 1, headHash: forgedHash });
    // Sealing at a later start-up does not adopt it: the cut-over is done.
    expect(await sealLegacyChains(db, server.app.deps.auditIntegrity.keys)).toBe(0);
    await expectOnly(server, { kind: 'unkeyed', chainId: 'forged-legacy', seq: 1, rowId: forged.id });
    await exec(server, sql`delete from audit_logs where chain_id = 'forged-legacy'`);
    await exec(server, sql`delete from audit_chains where chain_id = 'forged-legacy'`);

    // A keyless row appended to the server's own chain.
    const all = (await chainRows(db, server)).filter((r) => r.chainId === chainId);
    const last = all.at(-1)!;
    const appended = { ...last, id: randomUUID(), seq: last.seq + 1, keyId: null, requestId: 'appended' };
    const appendedHash = sha256Hash(appended, last.hash);
    await db.insert(auditLogs).values({ ...appended, prevHash: last.hash, hash: appendedHash });
    await exec(server, sql`update audit_chains set head_seq = ${appended.seq}, head_hash = ${appendedHash} where chain_id = ${chainId}`);
    const found = await expectOnly(server, { kind: 'unkeyed', chainId, seq: appended.seq, rowId: appended.id });
    expect(found.message).toBe(`row ${appended.seq} of chain ${chainId} is hashed without the audit key where only keyed rows belong`);
  });

  it('moves the anchor past deleted rows: moved, as no audit.retention_applied row explains it', async () => {
    const { server } = await ownDesk();
    const rows = await record(server, 'anchor', 6);
    const cut = rows[2]!;
    await exec(server, sql`delete from audit_logs where chain_id = ${cut.chainId} and seq <= ${cut.seq}`);
    await exec(server, sql`update audit_chains set anchor_seq = ${cut.seq}, anchor_hash = ${cut.hash} where chain_id = ${cut.chainId}`);
    const found = await expectOnly(server, { kind: 'moved', chainId: cut.chainId, anchorSeq: cut.seq, rowId: rows[3]!.id });
    expect(found.message).toBe(`the anchor of chain ${cut.chainId} was moved to row ${cut.seq}, which no audit.retention_applied row explains`);
  });

  it('moves a signed anchor further, keeping the signature retention wrote: still named; the real cut verifies and is recorded', async () => {
    const { server } = await ownDesk({ audit: { retentionDays: 30 } });
    await server.app.retention.stop();
    const old = await record(server, 'old', 5);
    server.clock.advance(31 * DAY_MS);
    await record(server, 'new', 3);
    expect(await server.app.retention.runNow()).toMatchObject({ removed: old.length });
    expect(await verifyAuditLog(server.app.deps)).toMatchObject({ ok: true, breaks: [] });
    const [applied] = (await chainRows(server.app.deps.db, server)).filter((r) => r.action === 'audit.retention_applied');
    const [chain] = await server.app.deps.db.select().from(auditChains);
    expect(applied?.details.cuts).toEqual([{ chainId: chain!.chainId, anchorSeq: chain!.anchorSeq, anchorHash: chain!.anchorHash }]);
    expect(chain!.mac).toMatch(/^[0-9a-f]{64}$/);

    // Further forward, keeping the signature retention wrote: the signature no longer matches.
    const left = (await chainRows(server.app.deps.db)).filter((r) => r.chainId === chain!.chainId);
    await exec(server, sql`delete from audit_logs where id = ${left[0]!.id}`);
    await exec(server, sql`update audit_chains set anchor_seq = ${left[0]!.seq}, anchor_hash = ${left[0]!.hash} where chain_id = ${chain!.chainId}`);
    await expectOnly(server, { kind: 'moved', chainId: chain!.chainId, anchorSeq: left[0]!.seq, rowId: left[1]!.id });
    // Retention never signs a forged anchor: it leaves the chain alone.
    server.clock.advance(31 * DAY_MS);
    expect(await server.app.retention.runNow()).toMatchObject({ removed: 0 });
    await expectOnly(server, { kind: 'moved', chainId: chain!.chainId });
  });

  it('deletes a whole chain with its audit_chains row after a checkpoint: deleted, naming the chain', SLOW_TEST, async () => {
    const databaseUrl = await freshPostgres();
    const [a, b] = [await ownDesk({ databaseUrl }), await ownDesk({ databaseUrl })];
    await record(a.server, 'victim', 4);
    await record(b.server, 'witness', 2);
    const victim = (await chainRows(a.server.app.deps.db)).find((r) => r.details.marker === 'victim')!;
    const checkpoint = await b.server.app.checkpoints.writeNow();
    expect(checkpoint?.chains.map((c) => c.chainId)).toContain(victim.chainId);
    await a.server.close();

    await exec(b.server, sql`delete from audit_logs where chain_id = ${victim.chainId}`);
    await exec(b.server, sql`delete from audit_chains where chain_id = ${victim.chainId}`);
    const found = await expectOnly(b.server, { kind: 'deleted', chainId: victim.chainId, rowId: null });
    expect(found.message).toMatch(new RegExp(`^chain ${victim.chainId}, which the checkpoint of .* recorded up to row \\d+, is gone from the database$`));

    // Over HTTP too, where the check is audited.
    const admin = await seedUser(b.server, 'admin');
    const session = await signIn(b.server, admin);
    const report = (await session.client.audit.verify.mutate({})) as VerifyReport;
    expect(report.breaks).toEqual([expect.objectContaining({ kind: 'deleted', chainId: victim.chainId })]);
  });

  it('cuts off the newest rows and lowers audit_chains.head to match: truncated, against the checkpoint', async () => {
    const { server } = await ownDesk();
    await record(server, 'tail', 6);
    await server.app.checkpoints.writeNow();
    const all = await chainRows(server.app.deps.db);
    const [head, lastLeft] = [all.at(-1)!, all.at(-4)!];
    await exec(server, sql`delete from audit_logs where chain_id = ${head.chainId} and seq > ${lastLeft.seq}`);
    await exec(server, sql`update audit_chains set head_seq = ${lastLeft.seq}, head_hash = ${lastLeft.hash} where chain_id = ${head.chainId}`);
    const found = await expectOnly(server, { kind: 'truncated', chainId: head.chainId, lastSeq: lastLeft.seq, expectedSeq: head.seq, rowId: lastLeft.id });
    expect(found.message).toMatch(new RegExp(`^chain ${head.chainId} ends at row ${lastLeft.seq} but the checkpoint of .* recorded row ${head.seq}$`));
  });

  it('reorders rows and re-hashes them: named at the first row out of place', async () => {
    const { server } = await ownDesk();
    const rows = await record(server, 'reorder', 6);
    const [a, b] = [rows[2]!, rows[3]!];
    await exec(server, sql`update audit_logs set seq = -1 where id = ${a.id}`);
    await exec(server, sql`update audit_logs set seq = ${a.seq} where id = ${b.id}`);
    await exec(server, sql`update audit_logs set seq = ${b.seq} where id = ${a.id}`);
    const moved = (await chainRows(server.app.deps.db)).filter((r) => r.chainId === a.chainId && r.seq >= a.seq);
    const before = (await chainRows(server.app.deps.db)).find((r) => r.chainId === a.chainId && r.seq === a.seq - 1)!;
    const head = await rehash(server.app.deps.db, moved, before.hash);
    await exec(server, sql`update audit_chains set head_hash = ${head} where chain_id = ${a.chainId}`);
    await expectOnly(server, { kind: 'changed', chainId: a.chainId, seq: a.seq, rowId: b.id });
  });
});

describe('checkpoints', () => {
  it('are written every AUDIT_CHECKPOINT_MINUTES on their own, each with the heads that moved, chained to the line before', async () => {
    // 0.005 minutes: the real timer, every 300 ms, instead of every 5 minutes. Nothing here calls writeNow.
    const { server, checkpoints } = await ownDesk({ audit: { checkpointMinutes: 0.005 } });
    type Line = { chains: { chainId: string; seq: number }[]; prev: string; mac: string };
    const lines = (): Line[] =>
      // Complete lines only: the timer may be appending one while this reads.
      existsSync(checkpoints) ? readFileSync(checkpoints, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as Line) : [];
    const covers = (chainId: string, seq: number) => lines().some((c) => c.chains.some((h) => h.chainId === chainId && h.seq >= seq));

    // The process's first line comes from the timer, not from a shutdown.
    await expect.poll(() => lines().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    for (const marker of ['timed-a', 'timed-b']) {
      const last = (await record(server, marker, 2)).at(-1)!;
      await expect.poll(() => covers(last.chainId, last.seq), { timeout: 10_000 }).toBe(true);
    }
    const written = lines();
    expect(written.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < written.length; i++) expect(written[i]!.prev).toBe(written[i - 1]!.mac);
    expect(server.logs.filter((l) => l.includes('"msg":"audit checkpoint"')).length).toBeGreaterThanOrEqual(written.length);
    expect(await verifyAuditLog(server.app.deps)).toMatchObject({ ok: true, breaks: [] });
  });

  it('are written at shutdown and on demand, chained, MACed, logged; an altered or removed line is named', async () => {
    const { server, checkpoints } = await ownDesk();
    await record(server, 'cp', 3);
    const first = await server.app.checkpoints.writeNow();
    await record(server, 'cp2', 2);
    const second = await server.app.checkpoints.writeNow();
    // Nothing moved: no line.
    expect(await server.app.checkpoints.writeNow()).toBeNull();
    expect(second?.prev).toBe(first?.mac);
    const [chain] = await server.app.deps.db.select().from(auditChains);
    expect(second?.chains).toEqual([{ chainId: chain!.chainId, seq: chain!.headSeq, hash: chain!.headHash }]);
    expect(server.logs.some((l) => l.includes('"msg":"audit checkpoint"') && l.includes(second!.mac))).toBe(true);
    const lines = readFileSync(checkpoints, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(await verifyAuditLog(server.app.deps)).toMatchObject({ ok: true, breaks: [] });

    // A checkpointed seq lowered (to hide a cut) breaks the line's MAC.
    const edited = JSON.parse(lines[1]!) as { chains: { seq: number }[] };
    edited.chains[0]!.seq -= 1;
    writeFileSync(checkpoints, `${lines[0]}\n${JSON.stringify(edited)}\n`);
    await expectOnly(server, { kind: 'checkpoint', chainId: null, file: checkpoints, line: 2 });
    // The first line removed: the second no longer links to the line before it.
    writeFileSync(checkpoints, `${lines[1]}\n`);
    const found = await expectOnly(server, { kind: 'checkpoint', file: checkpoints, line: 1 });
    expect(found.message).toContain('does not link to the line before it');
    writeFileSync(checkpoints, `${lines.join('\n')}\n`);

    await server.close();
    const after = readFileSync(checkpoints, 'utf8').trim().split('\n');
    expect(after.length).toBe(3); // the shutdown checkpoint, with the rows written since
    expect((JSON.parse(after[2]!) as { prev: string }).prev).toBe(second?.mac);
  });

  it('pnpm audit:verify checks rows against the key and a copy of the checkpoints given with --checkpoints', SLOW_TEST, async () => {
    const databaseUrl = await freshPostgres();
    const { server, checkpoints } = await ownDesk({ databaseUrl });
    await record(server, 'cli', 5);
    await server.app.checkpoints.writeNow();
    const copy = path.join(tempDir('shipped'), 'checkpoints.log');
    copyFileSync(checkpoints, copy);
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: tempDir('cli-keyed'), AUDIT_KEY: TEST_AUDIT_KEY };

    const clean = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, env, ['--checkpoints', copy]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/checkpoints:\s+1 in /);

    const all = await chainRows(server.app.deps.db, server);
    const chainId = all[0]!.chainId;
    await exec(server, sql`delete from audit_logs where chain_id = ${chainId}`);
    await exec(server, sql`delete from audit_chains where chain_id = ${chainId}`);
    const broken = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, env, ['--checkpoints', copy, '--json']);
    expect(broken.code, broken.stderr).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, firstBreak: { kind: 'deleted', chainId } });

    const wrongKey = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, { ...env, AUDIT_KEY: randomBytes(32).toString('base64url') }, [
      '--checkpoints',
      copy,
      '--json',
    ]);
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stdout).breaks).toEqual([expect.objectContaining({ kind: 'checkpoint', line: 1 })]);

    const missing = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, env, ['--checkpoints', `${copy}.nope`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
    const keyless = await runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, { DATABASE_URL: databaseUrl, DATA_DIR: env.DATA_DIR });
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain('AUDIT_KEY (or AUDIT_KEY_FILE) is not set');
  });
});

describe('key rotation', () => {
  it('signs new rows with the first key of AUDIT_KEY and verifies rows of every key it lists; a dropped key is named', SLOW_TEST, async () => {
    const databaseUrl = await freshPostgres();
    const k1 = randomBytes(32).toString('base64url');
    const k2 = randomBytes(32).toString('base64url');
    const before = await ownDesk({ databaseUrl, auditKey: `k1:${k1}` });
    const old = await record(before.server, 'k1', 3);
    const rotated = await ownDesk({ databaseUrl, auditKey: `k2:${k2},k1:${k1}` });
    const fresh = await record(rotated.server, 'k2', 3);
    expect(new Set(old.map((r) => r.keyId))).toEqual(new Set(['k1']));
    expect(new Set(fresh.map((r) => r.keyId))).toEqual(new Set(['k2']));
    await before.server.app.deps.audit.flush();
    expect(await verifyAuditLog(rotated.server.app.deps)).toMatchObject({ ok: true, chains: 2, breaks: [] });

    // Only k1: the rows signed with k2 cannot be verified, and say so.
    const report = await verifyAuditLog(before.server.app.deps);
    expect(report.breaks).toEqual([expect.objectContaining({ kind: 'unverifiable', chainId: fresh[0]!.chainId, seq: 1, keyId: 'k2' })]);
  });
});

describe('the cut-over from the plain SHA-256 chain', () => {
  it('seals the rows written before the key, which still verify; keyless rows re-hashed after the cut-over are named at the sealed head', SLOW_TEST, async () => {
    const databaseUrl = await freshPostgres();
    // The log as the previous version wrote it: plain SHA-256, no key id, no signatures.
    const earlier = await ownDesk({ databaseUrl });
    await record(earlier.server, 'pre-key', 5);
    await earlier.server.close();
    const handle = await openDatabase({ url: databaseUrl, maxConnections: 2 });
    cleanups.push(() => handle.close());
    const legacy = await chainRows(handle.db);
    const head = await rehash(handle.db, legacy, GENESIS, { dropKey: true });
    await handle.db.execute(sql`update audit_chains set head_hash = ${head}, key_id = null, mac = null`);

    const { server } = await ownDesk({ databaseUrl });
    await record(server, 'post-key', 2);
    const [sealed] = await server.app.deps.db.select().from(auditChains).where(sql`chain_id = ${legacy[0]!.chainId}`);
    expect(sealed).toMatchObject({ legacySeq: legacy.length, legacyHash: head, keyId: 'test' });
    expect(await verifyAuditLog(server.app.deps)).toMatchObject({ ok: true, chains: 2, breaks: [] });

    // A keyless row changed and the keyless part re-hashed to its end: the sealed head no longer matches.
    const rewritten = legacy.map((r, i) => (i === 1 ? { ...r, actorId: 'someone-else' } : r));
    await exec(server, sql`update audit_logs set actor_id = 'someone-else' where id = ${legacy[1]!.id}`);
    const newHead = await rehash(server.app.deps.db, rewritten, GENESIS, { dropKey: true });
    await exec(server, sql`update audit_chains set head_hash = ${newHead} where chain_id = ${legacy[0]!.chainId}`);
    await expectOnly(server, { kind: 'changed', chainId: legacy[0]!.chainId, seq: legacy.length });
  });
});

async function freshPostgres(): Promise<string> {
  const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
  cleanups.push(() => fresh.drop());
  return fresh.url;
}
