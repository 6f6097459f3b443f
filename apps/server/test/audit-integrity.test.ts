/**
 * The audit log's tamper evidence, end to end: audit.verify over HTTP on a real server and
 * database, rows changed, deleted, reordered, cut off and forged with raw SQL, several writers on
 * one Postgres, retention cuts, and the `audit:verify` command against Postgres and PGlite.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { applyAuditRetention, verifyAuditLog, type AuditBreak, type VerifyReport } from '@tapevision/api';
import { auditChains, auditLogs, openDatabase, sql, type AuditLog } from '@tapevision/db';
import { errorData, rejectionOf } from './support/clients.ts';
import { runServerCli, type CliResult, killAllServerProcesses, startServerProcess } from './support/process.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, TEST_AUDIT_KEY, type TestServer, type TestServerOptions } from './support/server.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from './support/users.ts';

const DAY_MS = 24 * 3600 * 1000;
const PROCESS_TEST = { timeout: 120_000 };
const SLOW_TEST = { timeout: 90_000 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAllServerProcesses();
});
afterAll(async () => {
  await killAllServerProcesses();
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tv-${prefix}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function freshPostgres(): Promise<string> {
  const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
  cleanups.push(() => fresh.drop());
  return fresh.url;
}

interface Desk {
  server: TestServer;
  admin: SeededUser;
  session: SignedIn;
}

/** A server with a signed-in admin. */
async function startDesk(opts: TestServerOptions = {}): Promise<Desk> {
  const server = await startTestServer(opts);
  const admin = await seedUser(server, 'admin');
  return { server, admin, session: await signIn(server, admin) };
}

/** A server for one test only (it moves the clock or cuts the log), closed when the test ends. */
async function ownDesk(opts: TestServerOptions = {}): Promise<Desk> {
  const desk = await startDesk(opts);
  onTestFinished(() => desk.server.close());
  return desk;
}

/** Files `n` events through the app's own recorder (stamped with its clock) and writes them. */
async function record(server: TestServer, marker: string, n: number): Promise<AuditLog[]> {
  for (let i = 0; i < n; i++) {
    await server.app.deps.audit.record({
      action: 'audit.viewed',
      outcome: 'success',
      actor: { type: 'user', id: `reader-${marker}` },
      origin: { ip: '203.0.113.7', userAgent: 'integrity-test', requestId: `${marker}-${i}` },
      details: { marker, i, nested: { b: i, a: [marker] } },
    });
  }
  const rows = await chainRows(server);
  return rows.filter((r) => r.details.marker === marker);
}

/** Every row, in chain and sequence order, once the queue is written. */
async function chainRows(server: TestServer): Promise<AuditLog[]> {
  await server.app.deps.audit.flush();
  return inChainOrder(await server.app.deps.db.select().from(auditLogs));
}

function inChainOrder(rows: AuditLog[]): AuditLog[] {
  return rows.sort((a, b) => (a.chainId === b.chainId ? a.seq - b.seq : a.chainId < b.chainId ? -1 : 1));
}

/**
 * A process keeps two chains: its batched writer's (the events `record` files) and its sealer's
 * (state changes, whose rows commit in their own transactions: a sign-in, a user created).
 */
const CHAINS_PER_PROCESS = 2;

/** The batched writer's rows (the chain `record` files into), in sequence order. */
async function writerRows(server: TestServer): Promise<AuditLog[]> {
  const rows = await chainRows(server);
  const chainId = rows.find((r) => r.action === 'audit.viewed')?.chainId;
  return rows.filter((r) => r.chainId === chainId);
}

async function writerChain(server: TestServer) {
  const [first] = await writerRows(server);
  const chain = (await server.app.deps.db.select().from(auditChains)).find((c) => c.chainId === first?.chainId);
  expect(chain).toBeDefined();
  return chain!;
}

function exec(server: TestServer, query: ReturnType<typeof sql>) {
  return server.app.deps.db.execute(query);
}

async function rowsWhere(server: TestServer, action: string): Promise<AuditLog[]> {
  return (await chainRows(server)).filter((r) => r.action === action).sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** audit.verify as the admin, over HTTP. */
function verifyOverHttp(desk: Desk, input: { from?: string; to?: string } = {}): Promise<VerifyReport> {
  return desk.session.client.audit.verify.mutate(input) as Promise<VerifyReport>;
}

/** JSON with sorted keys, as the chain hashes it. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** The hash a forger who knows the algorithm but not the audit key gives a row they changed: plain SHA-256. */
function forgedHash(row: AuditLog): string {
  const { id: _id, hash: _hash, prevHash, at, keyId: _keyId, ...rest } = row;
  return createHash('sha256')
    .update(prevHash)
    .update('\n')
    .update(canonical({ ...rest, at: at.toISOString() }))
    .digest('hex');
}

/** The one break a single-chain log has, the same in the database and over HTTP, where it is audited. */
async function expectBreak(desk: Desk, expected: Partial<AuditBreak> & { kind: AuditBreak['kind']; rowId: string | null }): Promise<AuditBreak> {
  const direct = await verifyAuditLog(desk.server.app.deps);
  expect(direct.ok).toBe(false);
  expect(direct.breaks).toHaveLength(1);
  expect(direct.firstBreak).toMatchObject(expected);

  const before = (await rowsWhere(desk.server, 'audit.chain_broken')).length;
  const report = await verifyOverHttp(desk);
  expect(report.ok).toBe(false);
  expect(report.breaks).toHaveLength(1);
  expect(report.firstBreak).toMatchObject(expected);
  expect(report.firstBreak?.message).toBeTruthy();

  const broken = await rowsWhere(desk.server, 'audit.chain_broken');
  expect(broken).toHaveLength(before + 1);
  expect(broken.at(-1)).toMatchObject({
    severity: 'CRITICAL',
    outcome: 'failure',
    actorType: 'user',
    actorId: desk.admin.id,
    details: { breaks: 1, firstBreak: { kind: expected.kind, rowId: expected.rowId } },
  });
  return report.firstBreak!;
}

describe('audit.verify', () => {
  let desk: Desk;
  beforeAll(async () => {
    desk = await startDesk();
    cleanups.push(() => desk.server.close());
  });

  /**
   * Tampers with the log, expects the break, then puts every touched row back as it was (and
   * removes `forged` rows), so the next test starts from an intact log again.
   */
  async function tamper(
    touched: AuditLog[],
    change: () => Promise<unknown>,
    expected: Partial<AuditBreak> & { kind: AuditBreak['kind']; rowId: string | null },
    forged: string[] = [],
  ): Promise<AuditBreak> {
    await change();
    const found = await expectBreak(desk, expected);
    for (const id of [...touched.map((r) => r.id), ...forged]) await exec(desk.server, sql`delete from audit_logs where id = ${id}`);
    if (touched.length) await desk.server.app.deps.db.insert(auditLogs).values(touched);
    expect(await verifyAuditLog(desk.server.app.deps)).toMatchObject({ ok: true, breaks: [] });
    return found;
  }

  it('reports OK on an untouched log, checks every row of the chain, and is itself audited', async () => {
    // Real traffic: a user created, a failed sign-in, the log read; and recorded events.
    await desk.session.client.users.create.mutate({ email: `clean-${randomUUID()}@desk.example`, role: 'viewer' });
    await expect(signIn(desk.server, { email: desk.admin.email, password: 'not-the-password-at-all' })).rejects.toThrow();
    await desk.session.client.audit.list.query({ limit: 5 });
    await record(desk.server, 'clean', 12);
    const rows = await chainRows(desk.server);
    const chains = await desk.server.app.deps.db.select().from(auditChains);
    expect(chains).toHaveLength(CHAINS_PER_PROCESS);
    for (const chain of chains) {
      const own = rows.filter((r) => r.chainId === chain.chainId);
      expect(own.map((r) => r.seq)).toEqual(own.map((_, i) => i + 1));
      expect(chain).toMatchObject({ anchorSeq: 0, headSeq: own.length, headHash: own.at(-1)!.hash });
      // Ids are time-ordered (UUID v7), so a chain's ids ascend with its sequence: new rows go to the
      // right edge of the primary key's index.
      expect(own.map((r) => r.id)).toEqual(own.map((r) => r.id).sort());
    }
    for (const row of rows) expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const report = await verifyOverHttp(desk);
    expect(report).toEqual({ ok: true, chains: CHAINS_PER_PROCESS, rowsChecked: rows.length, firstBreak: null, breaks: [] });

    const verified = await rowsWhere(desk.server, 'audit.verified');
    expect(verified).toHaveLength(1);
    expect(verified[0]).toMatchObject({
      actorType: 'user',
      actorId: desk.admin.id,
      outcome: 'success',
      severity: 'MEDIUM',
      details: { from: null, to: null, rowsChecked: rows.length, breaks: 0, firstBreak: null },
    });
    expect(await rowsWhere(desk.server, 'audit.chain_broken')).toEqual([]);

    // The verification's own row chains on cleanly.
    const again = await verifyOverHttp(desk);
    expect(again).toMatchObject({ ok: true, rowsChecked: rows.length + 1 });
  });

  it('finds a row whose details were changed: changed, at that row', async () => {
    const target = (await record(desk.server, 'details', 6))[2]!;
    await tamper(
      [target],
      () => exec(desk.server, sql`update audit_logs set details = ${JSON.stringify({ marker: 'details', i: 99 })}::jsonb where id = ${target.id}`),
      { kind: 'changed', chainId: target.chainId, seq: target.seq, rowId: target.id, at: target.at.toISOString() },
    );
  });

  it('finds a row whose action was changed: changed, at that row', async () => {
    const target = (await record(desk.server, 'action', 6))[3]!;
    await tamper([target], () => exec(desk.server, sql`update audit_logs set action = 'auth.logout' where id = ${target.id}`), {
      kind: 'changed',
      seq: target.seq,
      rowId: target.id,
    });
  });

  it('finds a row whose actor was changed: changed, at that row', async () => {
    const target = (await record(desk.server, 'actor', 6))[1]!;
    await tamper([target], () => exec(desk.server, sql`update audit_logs set actor_id = 'someone-else', actor_type = 'system' where id = ${target.id}`), {
      kind: 'changed',
      seq: target.seq,
      rowId: target.id,
    });
  });

  it('finds a row changed in time: changed, at that row', async () => {
    const target = (await record(desk.server, 'retime', 6))[4]!;
    await tamper([target], () => exec(desk.server, sql`update audit_logs set at = at - interval '3 hours' where id = ${target.id}`), {
      kind: 'changed',
      seq: target.seq,
      rowId: target.id,
    });
  });

  it('finds a row changed and re-hashed (without the key) to hide it: changed, at that row', async () => {
    const rows = await record(desk.server, 'rehash', 6);
    const target = rows[2]!;
    const hash = forgedHash({ ...target, outcome: 'failure' });
    await tamper([target], () => exec(desk.server, sql`update audit_logs set outcome = 'failure', hash = ${hash} where id = ${target.id}`), {
      kind: 'changed',
      seq: target.seq,
      rowId: target.id,
    });
  });

  it("finds the chain's newest row changed and re-hashed: changed, against the head its writer registered", async () => {
    await record(desk.server, 'rehash-head', 3);
    const head = (await chainRows(desk.server)).at(-1)!;
    const hash = forgedHash({ ...head, outcome: 'denied' });
    await tamper([head], () => exec(desk.server, sql`update audit_logs set outcome = 'denied', hash = ${hash} where id = ${head.id}`), {
      kind: 'changed',
      seq: head.seq,
      rowId: head.id,
    });
  });

  it('finds a deleted middle row: missing, at the row after the gap', async () => {
    const rows = await record(desk.server, 'delete', 6);
    const [target, after] = [rows[2]!, rows[3]!];
    const found = await tamper([target], () => exec(desk.server, sql`delete from audit_logs where id = ${target.id}`), {
      kind: 'missing',
      expectedSeq: target.seq,
      foundSeq: after.seq,
      rowId: after.id,
      at: after.at.toISOString(),
    });
    expect(found.message).toBe(`row ${target.seq} of chain ${target.chainId} was deleted`);
  });

  it('finds several deleted rows: missing, naming the whole gap', async () => {
    const rows = await record(desk.server, 'delete-many', 8);
    const gone = rows.slice(2, 5);
    const found = await tamper(
      gone,
      async () => {
        for (const row of gone) await exec(desk.server, sql`delete from audit_logs where id = ${row.id}`);
      },
      { kind: 'missing', expectedSeq: gone[0]!.seq, foundSeq: rows[5]!.seq, rowId: rows[5]!.id },
    );
    expect(found.message).toBe(`rows ${gone[0]!.seq}..${gone[2]!.seq} of chain ${gone[0]!.chainId} were deleted`);
  });

  it('finds two rows whose seq were swapped: relinked, at the row moved into the first place', async () => {
    const rows = await record(desk.server, 'swap', 6);
    const [a, b] = [rows[2]!, rows[3]!];
    await tamper(
      [a, b],
      async () => {
        await exec(desk.server, sql`update audit_logs set seq = -1 where id = ${a.id}`);
        await exec(desk.server, sql`update audit_logs set seq = ${a.seq} where id = ${b.id}`);
        await exec(desk.server, sql`update audit_logs set seq = ${b.seq} where id = ${a.id}`);
      },
      { kind: 'relinked', seq: a.seq, rowId: b.id },
    );
  });

  it('finds a row moved to another place in the chain: missing, at the row after the hole', async () => {
    const rows = await record(desk.server, 'move', 6);
    const [target, after] = [rows[1]!, rows[2]!];
    await tamper([target], () => exec(desk.server, sql`update audit_logs set seq = seq + 1000 where id = ${target.id}`), {
      kind: 'missing',
      expectedSeq: target.seq,
      foundSeq: after.seq,
      rowId: after.id,
    });
  });

  it("finds the chain's newest rows deleted: truncated, at the last row left", async () => {
    await record(desk.server, 'tail', 6);
    const rows = await writerRows(desk.server);
    const [head, lastLeft] = [rows.at(-1)!, rows.at(-3)!];
    const found = await tamper(
      rows.slice(-2),
      () => exec(desk.server, sql`delete from audit_logs where chain_id = ${head.chainId} and seq > ${lastLeft.seq}`),
      { kind: 'truncated', expectedSeq: head.seq, lastSeq: lastLeft.seq, rowId: lastLeft.id, at: lastLeft.at.toISOString() },
    );
    expect(found.message).toBe(`chain ${head.chainId} ends at row ${lastLeft.seq} but its writer wrote up to ${head.seq}`);
  });

  it('finds every row of the chain deleted: truncated', async () => {
    const rows = await chainRows(desk.server);
    await exec(desk.server, sql`delete from audit_logs`);
    const report = await verifyAuditLog(desk.server.app.deps);
    expect(report).toMatchObject({ ok: false, rowsChecked: 0 });
    const heads = new Map<string, number>();
    for (const r of rows) heads.set(r.chainId, Math.max(heads.get(r.chainId) ?? 0, r.seq));
    expect(report.breaks).toHaveLength(heads.size);
    expect(report.breaks).toEqual(
      expect.arrayContaining([...heads].map(([chainId, seq]) => expect.objectContaining({ kind: 'truncated', chainId, lastSeq: 0, expectedSeq: seq, rowId: null }))),
    );
    await desk.server.app.deps.db.insert(auditLogs).values(rows);
    expect((await verifyAuditLog(desk.server.app.deps)).ok).toBe(true);
  });

  it('finds a forged row of a chain no writer registered: unregistered, at that row', async () => {
    const id = randomUUID();
    const found = await tamper(
      [],
      () =>
        exec(
          desk.server,
          sql`insert into audit_logs (id, at, actor_type, actor_id, action, outcome, severity, details, chain_id, seq, prev_hash, hash)
              values (${id}, ${new Date().toISOString()}::timestamptz, 'user', 'mallory', 'user.role_changed', 'success', 'HIGH',
                      '{"role":"admin"}'::jsonb, 'forged-chain', 1, ${'0'.repeat(64)}, ${'a'.repeat(64)})`,
        ),
      { kind: 'unregistered', chainId: 'forged-chain', rowId: id },
      [id],
    );
    expect(found.message).toBe('1 row of chain forged-chain, which no writer registered');
  });

  it('finds a forged row slipped in before the start of a registered chain: unregistered, at that row', async () => {
    const chain = await writerChain(desk.server);
    const id = randomUUID();
    await tamper(
      [],
      () =>
        exec(
          desk.server,
          sql`insert into audit_logs (id, at, actor_type, actor_id, action, outcome, severity, details, chain_id, seq, prev_hash, hash)
              values (${id}, ${new Date().toISOString()}::timestamptz, 'system', null, 'system.started', 'success', 'MEDIUM',
                      '{}'::jsonb, ${chain.chainId}, 0, ${'0'.repeat(64)}, ${'b'.repeat(64)})`,
        ),
      { kind: 'unregistered', chainId: chain.chainId, rowId: id },
      [id],
    );
  });

  it('refuses traders and viewers with FORBIDDEN (logs.view), and bad input with BAD_REQUEST, recording no verification', async () => {
    const verifiedBefore = (await rowsWhere(desk.server, 'audit.verified')).length;
    const brokenBefore = (await rowsWhere(desk.server, 'audit.chain_broken')).length;
    for (const role of ['trader', 'viewer'] as const) {
      const user = await signIn(desk.server, await seedUser(desk.server, role));
      expect(errorData(await rejectionOf(user.client.audit.verify.mutate({}))), role).toMatchObject({
        code: 'FORBIDDEN',
        httpStatus: 403,
        permission: 'logs.view',
      });
    }
    const bad: unknown[] = [
      { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' },
      { from: '2026-01-01T00:00:00Z', rows: 10 },
      { from: 'yesterday' },
      { to: '2026-01-01' },
    ];
    for (const input of bad) {
      const err = await rejectionOf(desk.session.client.audit.verify.mutate(input as { from?: string }));
      expect(errorData(err), JSON.stringify(input)).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
    }
    expect(await rowsWhere(desk.server, 'audit.verified')).toHaveLength(verifiedBefore);
    expect(await rowsWhere(desk.server, 'audit.chain_broken')).toHaveLength(brokenBefore);
  });
});

describe('audit.verify with a time range', () => {
  it('checks only the range: breaks outside it are not reported, one inside it is', SLOW_TEST, async () => {
    const desk = await ownDesk();
    const early = await record(desk.server, 'early', 5);
    desk.server.clock.advance(3600_000);
    const middle = await record(desk.server, 'middle', 5);
    desk.server.clock.advance(3600_000);
    const late = await record(desk.server, 'late', 5);
    desk.session = await signIn(desk.server, desk.admin); // the first session idled out as the clock moved
    const range = { from: middle[0]!.at.toISOString(), to: middle.at(-1)!.at.toISOString() };

    // Broken before and after the range.
    await exec(desk.server, sql`update audit_logs set details = '{"marker":"early","i":42}'::jsonb where id = ${early[2]!.id}`);
    await exec(desk.server, sql`delete from audit_logs where id = ${late[2]!.id}`);

    const inside = await verifyOverHttp(desk, range);
    expect(inside).toEqual({ ok: true, chains: CHAINS_PER_PROCESS, rowsChecked: middle.length, firstBreak: null, breaks: [] });
    const verified = (await rowsWhere(desk.server, 'audit.verified')).at(-1);
    expect(verified?.details).toMatchObject({ from: range.from, to: range.to, rowsChecked: middle.length, breaks: 0 });

    // Nothing in range at all: nothing to check, nothing broken.
    const future = new Date(desk.server.clock.now().getTime() + 30 * DAY_MS).toISOString();
    expect(await verifyOverHttp(desk, { from: future })).toMatchObject({ ok: true, chains: CHAINS_PER_PROCESS, rowsChecked: 0 });

    // Open-ended ranges reach the break on their side.
    expect((await verifyOverHttp(desk, { to: range.to })).breaks).toEqual([expect.objectContaining({ kind: 'changed', rowId: early[2]!.id })]);
    expect((await verifyAuditLog(desk.server.app.deps, { from: new Date(range.from) })).breaks).toEqual([
      expect.objectContaining({ kind: 'missing', expectedSeq: late[2]!.seq, rowId: late[3]!.id }),
    ]);

    // A break inside the range is caught, and raises the alarm.
    const target = middle[3]!;
    await exec(desk.server, sql`update audit_logs set outcome = 'denied' where id = ${target.id}`);
    const broken = await verifyOverHttp(desk, range);
    expect(broken.ok).toBe(false);
    expect(broken.breaks).toEqual([expect.objectContaining({ kind: 'changed', seq: target.seq, rowId: target.id })]);
    expect(broken.rowsChecked).toBe(4);
    const alarm = (await rowsWhere(desk.server, 'audit.chain_broken')).at(-1);
    expect(alarm).toMatchObject({ severity: 'CRITICAL', details: { from: range.from, to: range.to, firstBreak: { rowId: target.id } } });
  });

  it('reports rows deleted at either edge of the range: they may have been inside it', SLOW_TEST, async () => {
    const desk = await ownDesk();
    await record(desk.server, 'before', 3);
    desk.server.clock.advance(3600_000);
    const inside = await record(desk.server, 'inside', 4);
    desk.server.clock.advance(3600_000);
    const after = await record(desk.server, 'after', 3);
    const range = { from: new Date(inside[0]!.at.getTime() - 1000), to: new Date(inside.at(-1)!.at.getTime() + 1000) };
    const { deps } = desk.server.app;
    const db = deps.db;

    await exec(desk.server, sql`delete from audit_logs where id = ${inside[0]!.id}`);
    expect((await verifyAuditLog(deps, range)).breaks).toEqual([
      expect.objectContaining({ kind: 'missing', expectedSeq: inside[0]!.seq, foundSeq: inside[1]!.seq, rowId: inside[1]!.id }),
    ]);
    await db.insert(auditLogs).values(inside[0]!);

    await exec(desk.server, sql`delete from audit_logs where id = ${inside.at(-1)!.id}`);
    expect((await verifyAuditLog(deps, range)).breaks).toEqual([
      expect.objectContaining({ kind: 'missing', expectedSeq: inside.at(-1)!.seq, foundSeq: after[0]!.seq, rowId: after[0]!.id }),
    ]);
    await db.insert(auditLogs).values(inside.at(-1)!);
    expect(await verifyAuditLog(deps, range)).toMatchObject({ ok: true, rowsChecked: inside.length });

    // A range reaching past the newest row still sees the chain's end cut off.
    await exec(desk.server, sql`delete from audit_logs where id in (${after[1]!.id}, ${after[2]!.id})`);
    const toTheEnd = { from: range.from, to: new Date(desk.server.clock.now().getTime() + DAY_MS) };
    expect((await verifyAuditLog(deps, toTheEnd)).breaks).toEqual([
      expect.objectContaining({ kind: 'truncated', lastSeq: after[0]!.seq, expectedSeq: after[2]!.seq, rowId: after[0]!.id }),
    ]);
    // One that ends before the cut does not.
    expect(await verifyAuditLog(deps, range)).toMatchObject({ ok: true, rowsChecked: inside.length });
  });
});

describe('several writers on one Postgres database', () => {
  it('keep a chain each, written in parallel; both verify; retention run by both at once cuts each row once', SLOW_TEST, async () => {
    const databaseUrl = await freshPostgres();
    const audit = { retentionDays: 30 };
    const [a, b] = await Promise.all([ownDesk({ databaseUrl, audit }), ownDesk({ databaseUrl, audit })]);
    for (const desk of [a, b]) desk.server.app.retention.stop();

    await Promise.all(
      [a, b].flatMap((desk, d) => [
        record(desk.server, `writer-${d}-x`, 40),
        record(desk.server, `writer-${d}-y`, 40),
        ...Array.from({ length: 5 }, () => desk.session.client.audit.list.query({ limit: 1 })),
        desk.session.client.users.create.mutate({ email: `parallel-${d}-${randomUUID()}@desk.example`, role: 'viewer' }),
      ]),
    );
    await Promise.all([a.server.app.deps.audit.flush(), b.server.app.deps.audit.flush()]);

    const old = await chainRows(a.server);
    const chains = await a.server.app.deps.db.select().from(auditChains);
    // Each writer's chain, and one or two sealers' (either process may seal the other's state changes).
    expect(chains.length).toBeGreaterThanOrEqual(3);
    expect(chains.length).toBeLessThanOrEqual(2 * CHAINS_PER_PROCESS);
    for (const chain of chains) {
      const own = old.filter((r) => r.chainId === chain.chainId);
      expect(own.map((r) => r.seq)).toEqual(own.map((_, i) => i + 1));
      expect(chain).toMatchObject({ anchorSeq: 0, headSeq: own.length, headHash: own.at(-1)!.hash });
    }
    // Each writer's rows are its own: the marker rows of one server all sit in one chain.
    for (const d of [0, 1]) {
      expect(new Set(old.filter((r) => String(r.details.marker).startsWith(`writer-${d}-`)).map((r) => r.chainId)).size).toBe(1);
    }
    expect(await verifyAuditLog(a.server.app.deps)).toEqual({ ok: true, chains: chains.length, rowsChecked: old.length, firstBreak: null, breaks: [] });
    expect(await verifyOverHttp(b)).toMatchObject({ ok: true, chains: chains.length, rowsChecked: old.length });

    // A month later, both servers' retention jobs run at the same moment (and one twice).
    await Promise.all([a.server.app.deps.audit.flush(), b.server.app.deps.audit.flush()]);
    for (const desk of [a, b]) desk.server.clock.advance(31 * DAY_MS);
    const oldNow = await chainRows(a.server);
    await Promise.all([record(a.server, 'new-a', 5), record(b.server, 'new-b', 5)]);
    const results = await Promise.all([a.server.app.retention.runNow(), b.server.app.retention.runNow(), a.server.app.retention.runNow()]);
    expect(results.reduce((n, r) => n + r.removed, 0)).toBe(oldNow.length);

    const left = await chainRows(a.server);
    expect(left.filter((r) => oldNow.some((o) => o.id === r.id))).toEqual([]);
    for (const chain of await a.server.app.deps.db.select().from(auditChains)) {
      const lastCut = oldNow.filter((r) => r.chainId === chain.chainId).at(-1)!;
      expect(chain).toMatchObject({ anchorSeq: lastCut.seq, anchorHash: lastCut.hash });
    }
    expect((await rowsWhere(a.server, 'audit.retention_applied')).length).toBeGreaterThanOrEqual(1);
    expect(await verifyAuditLog(a.server.app.deps)).toMatchObject({ ok: true, rowsChecked: (await chainRows(a.server)).length });

    // A break in one chain is that chain's alone (a writer's: it has rows left after the cut).
    const victimChain = (await chainRows(a.server)).find((r) => r.details.marker === 'new-b')!.chainId;
    const own = (await chainRows(a.server)).filter((r) => r.chainId === victimChain);
    await exec(a.server, sql`delete from audit_logs where id = ${own[1]!.id}`);
    b.session = await signIn(b.server, b.admin);
    const broken = await verifyOverHttp(b);
    expect(broken).toMatchObject({ ok: false });
    expect(broken.chains).toBeGreaterThanOrEqual(chains.length);
    expect(broken.breaks).toEqual([expect.objectContaining({ kind: 'missing', chainId: victimChain, expectedSeq: own[1]!.seq, rowId: own[2]!.id })]);
  });
});

describe('retention', () => {
  it('removes rows older than AUDIT_RETENTION_DAYS with an anchored cut; the rest verifies; a row deleted after the anchor is caught', async () => {
    const desk = await ownDesk({ audit: { retentionDays: 30 } });
    desk.server.app.retention.stop(); // runNow() only, no timer in between
    await record(desk.server, 'old', 8);
    const old = await chainRows(desk.server);
    desk.server.clock.advance(31 * DAY_MS);
    const fresh = await record(desk.server, 'new', 6);
    const before = new Date(desk.server.clock.now().getTime() - 30 * DAY_MS);

    expect(await desk.server.app.retention.runNow()).toEqual({ removed: old.length, chains: CHAINS_PER_PROCESS });

    const left = await chainRows(desk.server);
    expect(left.every((r) => r.at >= before)).toBe(true);
    expect(left.filter((r) => old.some((o) => o.id === r.id))).toEqual([]);
    for (const row of fresh) expect(left.some((r) => r.id === row.id)).toBe(true);

    const lastCut = old.filter((r) => r.chainId === fresh[0]!.chainId).at(-1)!;
    expect(await writerChain(desk.server)).toMatchObject({ anchorSeq: lastCut.seq, anchorHash: lastCut.hash });
    expect(left.filter((r) => r.chainId === lastCut.chainId)[0]).toMatchObject({ seq: lastCut.seq + 1, prevHash: lastCut.hash });

    const applied = await rowsWhere(desk.server, 'audit.retention_applied');
    expect(applied).toHaveLength(1);
    expect(applied[0]).toMatchObject({
      actorType: 'system',
      severity: 'HIGH',
      details: { removed: old.length, chains: CHAINS_PER_PROCESS, retentionDays: 30, before: before.toISOString() },
    });

    desk.session = await signIn(desk.server, desk.admin); // the first session idled out as the clock moved
    const now = await chainRows(desk.server);
    expect(await verifyOverHttp(desk)).toEqual({ ok: true, chains: CHAINS_PER_PROCESS, rowsChecked: now.length, firstBreak: null, breaks: [] });
    // Nothing more to cut: running again changes nothing and records nothing.
    expect(await desk.server.app.retention.runNow()).toEqual({ removed: 0, chains: 0 });
    expect(await rowsWhere(desk.server, 'audit.retention_applied')).toHaveLength(1);

    // The first row after the anchor deleted: still a gap, not a new start.
    const [first, second] = await writerRows(desk.server);
    expect(first!.seq).toBe(lastCut.seq + 1);
    await exec(desk.server, sql`delete from audit_logs where id = ${first!.id}`);
    await expectBreak(desk, { kind: 'missing', expectedSeq: lastCut.seq + 1, foundSeq: second!.seq, rowId: second!.id });
  });

  it('run twice at once removes each row once and stays consistent', async () => {
    const desk = await ownDesk({ audit: { retentionDays: 7 } });
    desk.server.app.retention.stop();
    await record(desk.server, 'old', 40);
    const old = await chainRows(desk.server);
    desk.server.clock.advance(8 * DAY_MS);
    await record(desk.server, 'new', 4);
    const before = new Date(desk.server.clock.now().getTime() - 7 * DAY_MS);

    // Verifications running meanwhile never mistake the moving cut for a gap.
    const { deps } = desk.server.app;
    const [results, reports] = await Promise.all([
      Promise.all([desk.server.app.retention.runNow(), desk.server.app.retention.runNow(), applyAuditRetention(deps, before)]),
      Promise.all([verifyAuditLog(deps), verifyAuditLog(deps), verifyAuditLog(deps)]),
    ]);
    expect(results.reduce((n, r) => n + r.removed, 0)).toBe(old.length);
    expect(results.filter((r) => r.removed > 0)).toHaveLength(1);
    for (const report of reports) expect(report).toMatchObject({ ok: true, breaks: [] });

    const left = await chainRows(desk.server);
    expect(left.filter((r) => r.at < before)).toEqual([]);
    const lastWriterRow = old.filter((r) => r.action === 'audit.viewed').at(-1)!;
    expect(await writerChain(desk.server)).toMatchObject({ anchorSeq: lastWriterRow.seq, anchorHash: lastWriterRow.hash });
    expect(await verifyAuditLog(desk.server.app.deps)).toMatchObject({ ok: true, rowsChecked: left.length });
  });

  it('never erases tampering: the cut stops before a deleted row, and forged chains are kept', async () => {
    const desk = await ownDesk({ audit: { retentionDays: 30 } });
    desk.server.app.retention.stop();
    const old = await record(desk.server, 'old', 10);
    const gone = old[4]!;
    await exec(desk.server, sql`delete from audit_logs where id = ${gone.id}`);
    const forged = randomUUID();
    await exec(
      desk.server,
      sql`insert into audit_logs (id, at, actor_type, action, outcome, severity, details, chain_id, seq, prev_hash, hash)
          values (${forged}, ${new Date().toISOString()}::timestamptz, 'system', 'system.started', 'success', 'MEDIUM', '{}'::jsonb,
                  'forged-old', 1, ${'0'.repeat(64)}, ${'c'.repeat(64)})`,
    );
    // The sealer's chain (the sign-in) is intact and goes whole.
    const sealedOld = (await chainRows(desk.server)).filter((r) => r.chainId !== gone.chainId && r.chainId !== 'forged-old').length;
    desk.server.clock.advance(31 * DAY_MS);
    await record(desk.server, 'new', 3);

    // Only the intact part before the gap goes.
    expect(await desk.server.app.retention.runNow()).toEqual({ removed: gone.seq - 1 + sealedOld, chains: CHAINS_PER_PROCESS });
    expect((await writerChain(desk.server)).anchorSeq).toBe(gone.seq - 1);
    expect((await chainRows(desk.server)).some((r) => r.id === forged)).toBe(true);
    const report = await verifyAuditLog(desk.server.app.deps);
    expect(report.breaks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'missing', expectedSeq: gone.seq, foundSeq: old[5]!.seq, rowId: old[5]!.id }),
        expect.objectContaining({ kind: 'unregistered', chainId: 'forged-old', rowId: forged }),
      ]),
    );
    expect(report.breaks).toHaveLength(2);
  });

  it('keeps everything when AUDIT_RETENTION_DAYS is 0, even when run by hand', async () => {
    const desk = await ownDesk();
    await record(desk.server, 'keep', 3);
    const rows = await chainRows(desk.server);
    desk.server.clock.advance(3650 * DAY_MS);
    expect(await desk.server.app.retention.runNow()).toEqual({ removed: 0, chains: 0 });
    expect(await chainRows(desk.server)).toHaveLength(rows.length);
  });
});

function runCli(env: Record<string, string | undefined>, args: string[] = [], via: 'node' | 'pnpm' = 'node'): Promise<CliResult> {
  return runServerCli({ file: 'audit-verify.ts', script: 'audit:verify' }, env, args, via);
}

describe('pnpm audit:verify', () => {
  it('on Postgres: exit 0 when intact, exit 1 naming the break after tampering, 2 on bad arguments or no database', PROCESS_TEST, async () => {
    const databaseUrl = await freshPostgres();
    const desk = await ownDesk({ databaseUrl });
    const rows = await record(desk.server, 'cli', 8);
    desk.server.clock.advance(60_000);
    const later = await record(desk.server, 'cli-later', 3);
    const all = await chainRows(desk.server);
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: tempDir('cli-pg'), AUDIT_KEY: TEST_AUDIT_KEY };

    const clean = await runCli(env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('Audit log: OK');
    expect(clean.stdout).toMatch(new RegExp(`chains:\\s+${CHAINS_PER_PROCESS}\\n`));
    expect(clean.stdout).toMatch(new RegExp(`rows checked:\\s+${all.length}\\n`));
    expect(clean.stdout).toContain('Postgres');

    // Through the root script too, as documented.
    const viaPnpm = await runCli(env, ['--json'], 'pnpm');
    expect(viaPnpm.code, viaPnpm.stderr).toBe(0);
    expect(JSON.parse(viaPnpm.stdout)).toEqual({ ok: true, chains: CHAINS_PER_PROCESS, rowsChecked: all.length, firstBreak: null, breaks: [] });

    const target = rows[3]!;
    await exec(desk.server, sql`update audit_logs set actor_id = 'someone-else' where id = ${target.id}`);
    const broken = await runCli(env);
    expect(broken.code, broken.stderr).toBe(1);
    expect(broken.stdout).toContain('Audit log: BROKEN');
    expect(broken.stdout).toContain(`row id:  ${target.id}`);
    expect(broken.stdout).toContain(`time:    ${target.at.toISOString()}`);
    expect(broken.stdout).toContain(`row ${target.seq} of chain ${target.chainId} was changed after it was written`);

    const json = await runCli(env, ['--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBreak: { kind: 'changed', rowId: target.id, seq: target.seq } });
    expect((await runCli(env, [], 'pnpm')).code).toBe(1);

    // A range after the tampered row checks only what it covers.
    const range = await runCli(env, ['--from', later[0]!.at.toISOString(), '--to', desk.server.clock.now().toISOString()]);
    expect(range.code, range.stdout + range.stderr).toBe(0);
    expect(range.stdout).toMatch(new RegExp(`rows checked:\\s+${later.length}\\n`));

    for (const args of [['--from', 'yesterday'], ['--from', '2026-02-01T00:00:00Z', '--to', '2026-01-01T00:00:00Z'], ['--rows', '5'], ['extra']]) {
      const usage = await runCli(env, args);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr).toContain('Usage: pnpm audit:verify');
    }

    const unreachable = await runCli({ DATABASE_URL: 'postgres://postgres:s3cret-pw@127.0.0.1:1/nowhere' });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot open Postgres 127\.0\.0\.1:1\/nowhere/);
    expect(unreachable.stderr + unreachable.stdout).not.toContain('s3cret-pw');
  });

  it('on the embedded database: refuses while the server runs, verifies once it stopped, finds tampering', PROCESS_TEST, async () => {
    const dataDir = tempDir('cli-pglite');
    const env = { DATA_DIR: dataDir };

    const missing = await runCli({ DATA_DIR: path.join(dataDir, 'nothing-here') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no embedded database');

    const proc = startServerProcess({ ...env, ADMIN_PASSWORD: 'harbor-lantern-quantum-orchid-3' });
    await proc.listening();
    const busy = await runCli(env);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('is in use');
    expect(busy.stderr).toContain('stop the server');
    expect((await proc.stop()).code).toBe(0);

    const clean = await runCli(env);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toContain('Audit log: OK');
    expect(clean.stdout).toContain(path.join(dataDir, 'pglite'));

    // The server wrote its first admin, its start and its stop; change the admin's creation.
    const handle = await openDatabase({ dataDir: path.join(dataDir, 'pglite') });
    let target: AuditLog;
    try {
      const rows = inChainOrder(await handle.db.select().from(auditLogs));
      expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(['user.bootstrap_admin', 'system.started', 'system.stopped']));
      expect(clean.stdout).toMatch(new RegExp(`rows checked:\\s+${rows.length}\\n`));
      // Any process holding the embedded database counts, this test's own handle too.
      const held = await runCli(env, ['--json']);
      expect(held.code).toBe(2);
      expect(held.stdout).toBe('');
      target = rows.find((r) => r.action === 'user.bootstrap_admin')!;
      await handle.db.execute(sql`update audit_logs set details = '{"email":"mallory@evil.example"}'::jsonb where id = ${target.id}`);
    } finally {
      await handle.close();
    }
    const broken = await runCli(env);
    expect(broken.code, broken.stderr).toBe(1);
    expect(broken.stdout).toContain(`row id:  ${target.id}`);
    expect(broken.stdout).toContain('kind:    changed');
  });
});
