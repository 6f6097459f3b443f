/**
 * Reading the audit log: audit.list (every filter, keyset pagination newest first, opaque cursor),
 * audit.export (NDJSON and CSV streamed over httpBatchStreamLink, formula injection neutralised),
 * audit.onEvent (live tail over WebSocket, filtered, resumable by lastEventId); admins only, and
 * every read is itself audited.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchStreamLink, type TRPCClient } from '@trpc/client';
import { AUDIT_COMMITTED_CHANNEL, type AppRouter, type AuditEvent } from '@tapevision/api';
import type { AuditEntry } from '@tapevision/api/schemas';
import type { AuditLog } from '@tapevision/db';
import { keyClient } from './support/api-keys.ts';
import { errorData, httpClient, rejectionOf, wsClient, type ApiClient, type WsTestClient } from './support/clients.ts';
import { auditRows, rawCall } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { sleep, waitFor } from './support/session-helpers.ts';
import { seedUser, signIn, strongPassword, type SeededUser, type SignedIn } from './support/users.ts';

let server: TestServer;
let admin: { user: SeededUser; session: SignedIn };
let trader: { user: SeededUser; session: SignedIn };
let viewer: { user: SeededUser; session: SignedIn };

async function signedIn(role: SeededUser['role']) {
  const user = await seedUser(server, role);
  return { user, session: await signIn(server, user) };
}

beforeAll(async () => {
  server = await startTestServer({ trustProxy: true });
  admin = await signedIn('admin');
  trader = await signedIn('trader');
  viewer = await signedIn('viewer');
});
afterAll(async () => {
  await server?.close();
});

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function socket(token: string): WsTestClient {
  const ws = wsClient(server, { token });
  sockets.push(ws);
  return ws;
}

/** A client whose queries go over httpBatchStreamLink, so a query's async generator streams. */
function streamClient(token: string): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [httpBatchStreamLink({ url: server.trpcUrl, headers: () => ({ authorization: `Bearer ${token}` }) })],
  });
}

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

const origin = (over: Partial<AuditEvent['origin']> = {}): AuditEvent['origin'] => ({
  ip: '192.0.2.10',
  userAgent: 'audit-log-test',
  requestId: null,
  ...over,
});

/** Files events straight through the server's recorder (as its services do) and writes them. */
async function record(events: AuditEvent[], opts: { spreadMs?: number } = {}): Promise<void> {
  for (const event of events) {
    if (opts.spreadMs) server.clock.advance(opts.spreadMs);
    void server.app.deps.audit.record(event);
  }
  await server.app.deps.audit.flush();
}

/** n LOW/MEDIUM rows under one resource type (the test's own slice of the log). */
function volume(resourceType: string, n: number, start = 0): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    action: i % 3 === 0 ? 'auth.login_failed' : 'auth.login',
    outcome: i % 3 === 0 ? 'failure' : 'success',
    actor: { type: 'user', id: `u-${(start + i) % 7}` },
    origin: origin({ requestId: `req-${start + i}` }),
    resource: { type: resourceType, id: `r-${start + i}` },
    details: { n: start + i },
  }));
}

/** Newest first, as the log orders itself: at desc, then id desc. */
function newestFirst(rows: AuditLog[]): AuditLog[] {
  return [...rows].sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

function entryOf(row: AuditLog): AuditEntry {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actorType: row.actorType,
    actorId: row.actorId,
    action: row.action,
    outcome: row.outcome,
    severity: row.severity,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    ip: row.ip,
    userAgent: row.userAgent,
    requestId: row.requestId,
    details: row.details,
    chainId: row.chainId,
    seq: row.seq,
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

/** Every page of audit.list, following nextCursor. */
async function walk(client: ApiClient, input: Parameters<ApiClient['audit']['list']['query']>[0], between?: () => Promise<void>) {
  const items: AuditEntry[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.audit.list.query({ ...input, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
    pages += 1;
    if (pages > 1_000) throw new Error('pagination does not end');
    if (cursor && between) await between();
  } while (cursor);
  return { items, pages };
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const err = await rejectionOf(promise);
  expect(errorData(err).code, err.message).toBe(code);
  return err;
}

async function drain(iterable: AsyncIterable<string>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return chunks;
}

/** An RFC 4180 reader: quoted fields may hold commas, doubled quotes, CR and LF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') {
      if (cell !== '') throw new Error(`stray quote in an unquoted field at ${i}`);
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      throw new Error(`bare line break outside quotes at ${i}`);
    } else cell += c;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (cell !== '' || row.length) throw new Error('last record not terminated by CRLF');
  return rows;
}

const CSV_HEADER = [
  'id',
  'at',
  'actorType',
  'actorId',
  'action',
  'outcome',
  'severity',
  'resourceType',
  'resourceId',
  'ip',
  'userAgent',
  'requestId',
  'details',
  'chainId',
  'seq',
  'hash',
] as const;

/** What a spreadsheet-safe CSV cell for this value reads as, once unquoted. */
function expectedCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

async function tagRows(tag: string): Promise<AuditLog[]> {
  return auditRows(server, (r) => r.resourceType === tag);
}

// ---------------------------------------------------------------------------------------------

describe('audit.list filters', () => {
  const tag = unique('filters');
  let rows: AuditLog[];

  beforeAll(async () => {
    const user = (id: string) => ({ type: 'user' as const, id });
    await record(
      [
        { action: 'auth.login', outcome: 'success', actor: user('u-1'), origin: origin({ ip: '203.0.113.1' }), resource: { type: tag, id: 'a' } },
        { action: 'auth.login_failed', outcome: 'failure', actor: { type: 'anonymous' }, origin: origin({ ip: '203.0.113.2' }), resource: { type: tag, id: 'b' } },
        { action: 'user.role_changed', outcome: 'success', actor: user('u-2'), origin: origin({ ip: '203.0.113.1' }), resource: { type: tag, id: 'a' } },
        { action: 'audit.chain_broken', outcome: 'failure', actor: { type: 'system' }, origin: origin({ ip: null }), resource: { type: tag, id: 'c' } },
        { action: 'authz.denied', outcome: 'denied', actor: { type: 'apikey', id: 'k-1' }, origin: origin({ ip: '203.0.113.3' }), resource: { type: tag, id: 'b' } },
        { action: 'apikey.created', outcome: 'success', actor: { type: 'apikey', id: 'k-1' }, origin: origin({ ip: '203.0.113.3' }), resource: { type: tag, id: 'c' } },
        { action: 'session.evicted', outcome: 'success', actor: { type: 'system' }, origin: origin({ ip: '203.0.113.2' }), resource: { type: tag, id: 'a' } },
        { action: 'auth.login', outcome: 'success', actor: user('u-2'), origin: origin({ ip: '203.0.113.2' }), resource: { type: tag, id: 'b' } },
        { action: 'auth.account_locked', outcome: 'success', actor: user('u-1'), origin: origin({ ip: '203.0.113.1' }), resource: { type: tag, id: 'c' } },
        { action: 'auth.login_failed', outcome: 'denied', actor: user('u-1'), origin: origin({ ip: '203.0.113.1' }), resource: { type: tag, id: 'a' } },
      ],
      // A second apart, so time bounds fall cleanly between rows.
      { spreadMs: 1_000 },
    );
    rows = newestFirst(await tagRows(tag));
  });

  it('has one row per event, newest first, as AuditEntry', async () => {
    expect(rows).toHaveLength(10);
    const page = await admin.session.client.audit.list.query({ resourceType: tag });
    expect(page.items).toEqual(rows.map(entryOf));
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((e) => e.resourceId)).toEqual(['a', 'c', 'b', 'a', 'c', 'b', 'c', 'a', 'b', 'a']);
  });

  const SEVERITY_RANK = { LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 3 } as const;
  const cases: [string, Record<string, string>, (r: AuditLog) => boolean][] = [
    ['actor', { actor: 'u-1' }, (r) => r.actorId === 'u-1'],
    ['actorType', { actorType: 'apikey' }, (r) => r.actorType === 'apikey'],
    ['actorType anonymous', { actorType: 'anonymous' }, (r) => r.actorType === 'anonymous'],
    ['action', { action: 'auth.login' }, (r) => r.action === 'auth.login'],
    ['outcome', { outcome: 'denied' }, (r) => r.outcome === 'denied'],
    ['severity', { severity: 'MEDIUM' }, (r) => r.severity === 'MEDIUM'],
    ['minSeverity HIGH', { minSeverity: 'HIGH' }, (r) => r.severity === 'HIGH' || r.severity === 'CRITICAL'],
    ['minSeverity MEDIUM', { minSeverity: 'MEDIUM' }, (r) => r.severity !== 'LOW'],
    ['minSeverity LOW', { minSeverity: 'LOW' }, () => true],
    ['minSeverity CRITICAL', { minSeverity: 'CRITICAL' }, (r) => r.severity === 'CRITICAL'],
    ['ip', { ip: '203.0.113.1' }, (r) => r.ip === '203.0.113.1'],
    ['resourceId', { resourceId: 'b' }, (r) => r.resourceId === 'b'],
    ['several at once (AND)', { actor: 'u-1', ip: '203.0.113.1', outcome: 'success' }, (r) => r.actorId === 'u-1' && r.ip === '203.0.113.1' && r.outcome === 'success'],
    ['action and outcome', { action: 'auth.login_failed', outcome: 'denied' }, (r) => r.action === 'auth.login_failed' && r.outcome === 'denied'],
    ['severity and minSeverity', { severity: 'HIGH', minSeverity: 'MEDIUM' }, (r) => r.severity === 'HIGH'],
    ['nothing matches', { actor: 'u-2', actorType: 'apikey' }, () => false],
  ];

  it.each(cases)('narrows by %s', async (_name, filter, keep) => {
    const expected = rows.filter(keep).map((r) => r.id);
    // The oracle must itself narrow, or the case proves nothing (except the deliberate two).
    if (!['minSeverity LOW', 'nothing matches'].includes(_name)) {
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(rows.length);
    }
    const page = await admin.session.client.audit.list.query({ resourceType: tag, ...filter });
    expect(page.items.map((e) => e.id)).toEqual(expected);
    // And through pagination, one row per page.
    const pages = await walk(admin.session.client, { resourceType: tag, ...filter, limit: 1 });
    expect(pages.items.map((e) => e.id)).toEqual(expected);
    if (filter.minSeverity) {
      for (const e of page.items) expect(SEVERITY_RANK[e.severity as keyof typeof SEVERITY_RANK]).toBeGreaterThanOrEqual(SEVERITY_RANK[filter.minSeverity as 'LOW']);
    }
  });

  it('takes `from` as inclusive and `to` as exclusive, in any UTC offset', async () => {
    const oldestFirst = [...rows].reverse();
    const from = oldestFirst[2]!.at;
    const to = oldestFirst[6]!.at;
    const expected = oldestFirst.slice(2, 6).reverse().map((r) => r.id);

    const page = await admin.session.client.audit.list.query({ resourceType: tag, from: from.toISOString(), to: to.toISOString() });
    expect(page.items.map((e) => e.id)).toEqual(expected);

    // The same instants written at +02:00.
    const plus2 = (d: Date) => new Date(d.getTime() + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    const shifted = await admin.session.client.audit.list.query({ resourceType: tag, from: plus2(from), to: plus2(to) });
    expect(shifted.items.map((e) => e.id)).toEqual(expected);

    // A bound one millisecond either side moves the edge rows in or out.
    const later = await admin.session.client.audit.list.query({
      resourceType: tag,
      from: new Date(from.getTime() + 1).toISOString(),
      to: new Date(to.getTime() + 1).toISOString(),
    });
    expect(later.items.map((e) => e.id)).toEqual(oldestFirst.slice(3, 7).reverse().map((r) => r.id));

    const onlyFrom = await admin.session.client.audit.list.query({ resourceType: tag, from: from.toISOString() });
    expect(onlyFrom.items.map((e) => e.id)).toEqual(oldestFirst.slice(2).reverse().map((r) => r.id));
    const onlyTo = await admin.session.client.audit.list.query({ resourceType: tag, to: to.toISOString() });
    expect(onlyTo.items.map((e) => e.id)).toEqual(oldestFirst.slice(0, 6).reverse().map((r) => r.id));
    const empty = await admin.session.client.audit.list.query({ resourceType: tag, from: to.toISOString(), to: to.toISOString() });
    expect(empty.items).toEqual([]);
  });

  it('narrows rows written by real sign-ins, failed logins and user creation', async () => {
    // A sign-in: the user is the actor.
    const user = await seedUser(server, 'trader');
    await signIn(server, user);
    // A failed login for an unknown email, from an address of its own.
    const ip = `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
    await rejectionOf(
      httpClient(server, { headers: { 'x-forwarded-for': ip } }).auth.login.mutate({ email: `${unique('nobody')}@desk.example`, password: strongPassword() }),
    );
    // A user created by the admin.
    const created = await admin.session.client.users.create.mutate({ email: `${unique('new')}@desk.example`, role: 'viewer', password: strongPassword() });
    await server.app.deps.audit.flush();
    const all = await auditRows(server);

    const byActor = await admin.session.client.audit.list.query({ actor: user.id });
    const mine = newestFirst(all.filter((r) => r.actorId === user.id));
    expect(mine.map((r) => r.action)).toContain('auth.login');
    expect(byActor.items.map((e) => e.id)).toEqual(mine.map((r) => r.id));

    const signIns = await admin.session.client.audit.list.query({ actor: user.id, action: 'auth.login', actorType: 'user' });
    expect(signIns.items).toHaveLength(1);
    expect(signIns.items[0]).toMatchObject({ actorId: user.id, outcome: 'success', severity: 'LOW', resourceType: 'session' });

    const fromIp = await admin.session.client.audit.list.query({ ip });
    expect(fromIp.items.map((e) => e.id)).toEqual(newestFirst(all.filter((r) => r.ip === ip)).map((r) => r.id));
    expect(fromIp.items.map((e) => e.action)).toEqual(['auth.login_failed']);
    const failed = await admin.session.client.audit.list.query({ ip, action: 'auth.login_failed', outcome: 'failure', actorType: 'anonymous', severity: 'MEDIUM' });
    expect(failed.items).toHaveLength(1);
    expect(await admin.session.client.audit.list.query({ ip, outcome: 'success' })).toEqual({ items: [], nextCursor: null });

    const creation = await admin.session.client.audit.list.query({ action: 'user.created', resourceType: 'user', resourceId: created.user.id });
    expect(creation.items).toHaveLength(1);
    expect(creation.items[0]).toMatchObject({ actorType: 'user', actorId: admin.user.id, resourceId: created.user.id, severity: 'MEDIUM' });
  });
});

describe('audit.list pagination', () => {
  it('walks every row exactly once, newest first, while new rows keep arriving between pages', async () => {
    const tag = unique('pages');
    // Recorded in one burst, so many rows share a millisecond and the id decides their order.
    await record(volume(tag, 137));
    const initial = newestFirst(await tagRows(tag));
    expect(initial).toHaveLength(137);
    expect(new Set(initial.map((r) => r.at.getTime())).size).toBeLessThan(initial.length);

    let extra = 0;
    const { items, pages } = await walk(admin.session.client, { resourceType: tag, limit: 10 }, async () => {
      await record(volume(tag, 3, 1_000 + extra));
      extra += 3;
    });
    expect(pages).toBe(14);
    expect(extra).toBe(39);
    const ids = items.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(initial.map((r) => r.id));

    // The rows written meanwhile are newer than the walk's start: a fresh walk sees them first.
    const now = newestFirst(await tagRows(tag));
    expect(now).toHaveLength(137 + 39);
    const again = await walk(admin.session.client, { resourceType: tag, limit: 50 });
    expect(again.pages).toBe(4);
    expect(again.items.map((e) => e.id)).toEqual(now.map((r) => r.id));
    expect(again.items.slice(39).map((e) => e.id)).toEqual(initial.map((r) => r.id));
  });

  it('pages 50 rows by default and says when the last page is reached', async () => {
    const tag = unique('default');
    await record(volume(tag, 51));
    const first = await admin.session.client.audit.list.query({ resourceType: tag });
    expect(first.items).toHaveLength(50);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await admin.session.client.audit.list.query({ resourceType: tag, cursor: first.nextCursor! });
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    const exact = await admin.session.client.audit.list.query({ resourceType: tag, limit: 51 });
    expect(exact.items).toHaveLength(51);
    expect(exact.nextCursor).toBeNull();
    const max = await admin.session.client.audit.list.query({ limit: 500 });
    expect(max.items.length).toBeLessThanOrEqual(500);
  });

  it('answers a malformed or forged cursor with BAD_REQUEST, never a 500', async () => {
    const tag = unique('cursor');
    await record(volume(tag, 3));
    const good = (await admin.session.client.audit.list.query({ resourceType: tag, limit: 1 })).nextCursor!;
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const bad = [
      'garbage!',
      'not base64 at all',
      `${good}$`,
      good.slice(0, -3),
      b64('not json'),
      b64({ at: new Date().toISOString(), id: randomUUID() }),
      b64([new Date().toISOString()]),
      b64([new Date().toISOString(), 'not-a-uuid']),
      b64(['yesterday', randomUUID()]),
      b64(['2024-02-30T00:00:00.000Z', randomUUID()]),
      b64([12345, randomUUID()]),
      b64([new Date().toISOString(), randomUUID(), 'extra']),
      b64(["2024-01-01T00:00:00.000Z'); drop table audit_logs; --", randomUUID()]),
      '',
      'x'.repeat(201),
    ];
    for (const cursor of bad) {
      const err = await expectCode(admin.session.client.audit.list.query({ resourceType: tag, cursor }), 'BAD_REQUEST');
      expect(errorData(err).httpStatus, cursor).toBe(400);
    }
    // The table is still there and the good cursor still works.
    const next = await admin.session.client.audit.list.query({ resourceType: tag, limit: 1, cursor: good });
    expect(next.items).toHaveLength(1);
  });
});

describe('access', () => {
  it('refuses traders and viewers on list, export and onEvent with FORBIDDEN', async () => {
    for (const who of [trader, viewer]) {
      await expectCode(who.session.client.audit.list.query({}), 'FORBIDDEN');
      await expectCode(streamClient(who.session.token).audit.export.query({ format: 'ndjson' }), 'FORBIDDEN');
      await expectCode(streamClient(who.session.token).audit.export.query({ format: 'csv', limit: 1 }), 'FORBIDDEN');

      const ws = socket(who.session.token);
      const errors: unknown[] = [];
      const data: unknown[] = [];
      const sub = ws.trpc.audit.onEvent.subscribe({}, { onData: (d) => data.push(d), onError: (e) => errors.push(e) });
      await waitFor(() => errors.length > 0, 5_000, 'the subscription to be refused');
      sub.unsubscribe();
      expect(errorData(errors[0]).code).toBe('FORBIDDEN');
      expect(data).toEqual([]);

      // The same subscription over HTTP (server-sent events) is refused as well.
      const sse = await rawCall(server, 'audit.onEvent', 'subscription', { token: who.session.token, input: {}, subscriptionWaitMs: 3_000 });
      expect(sse.error?.data).toMatchObject({ code: 'FORBIDDEN', permission: 'logs.view' });
    }
    // No read was recorded for them: they read nothing.
    const reads = await auditRows(
      server,
      (r) => ['audit.viewed', 'audit.exported', 'audit.tail_started'].includes(r.action) && (r.actorId === trader.user.id || r.actorId === viewer.user.id),
    );
    expect(reads).toEqual([]);
  });

  it('refuses anonymous callers with UNAUTHORIZED', async () => {
    await expectCode(httpClient(server).audit.list.query({}), 'UNAUTHORIZED');
  });
});

describe('every read is audited', () => {
  it('leaves an audit.viewed row per list call, naming the reader, the filters and the page size', async () => {
    const tag = unique('viewed');
    // Four of these six succeed: two pages of two.
    await record(volume(tag, 6));
    const before = await auditRows(server, (r) => r.action === 'audit.viewed' && r.actorId === admin.user.id);
    const first = await admin.session.client.audit.list.query({ resourceType: tag, outcome: 'success', limit: 2 });
    await admin.session.client.audit.list.query({ resourceType: tag, outcome: 'success', limit: 2, cursor: first.nextCursor! });
    const after = await auditRows(server, (r) => r.action === 'audit.viewed' && r.actorId === admin.user.id);
    const added = after.filter((r) => !before.some((b) => b.id === r.id));
    expect(added).toHaveLength(2);
    for (const row of added) {
      expect(row).toMatchObject({ actorType: 'user', actorId: admin.user.id, outcome: 'success', severity: 'LOW', ip: '127.0.0.1' });
      expect(row.details).toMatchObject({ filters: { resourceType: tag, outcome: 'success' }, limit: 2 });
      expect(row.details.filters).not.toHaveProperty('cursor');
    }
  });

  it('names the API key when a key reads the log', async () => {
    const created = await admin.session.client.apiKeys.create.mutate({ name: unique('reader'), permissions: ['logs.view'] });
    const page = await keyClient(server, created.key).audit.list.query({ limit: 1 });
    expect(page.items).toHaveLength(1);
    const rows = await auditRows(server, (r) => r.action === 'audit.viewed' && r.actorId === created.apiKey.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actorType: 'apikey', details: { limit: 1 } });
  });

  it('shows people by email and keys by name (with the owner), in audit.list and the live tail', async () => {
    const created = await admin.session.client.apiKeys.create.mutate({ name: unique('named'), permissions: ['logs.view'] });
    await keyClient(server, created.key).audit.list.query({ limit: 1 });
    // audit.viewed is buffered, not written in the read's transaction: it lands a moment later.
    const byKeyRows = async () => (await admin.session.client.audit.list.query({ action: 'audit.viewed', actor: created.apiKey.id })).items;
    await expect.poll(async () => (await byKeyRows()).length, { timeout: 5_000 }).toBe(1);
    const [byKey] = await byKeyRows();
    expect(byKey).toMatchObject({ actorType: 'apikey', actorName: `${created.apiKey.name} (${admin.user.email})` });
    const [keyCreated] = (await admin.session.client.audit.list.query({ action: 'apikey.created', resourceId: created.apiKey.id })).items;
    expect(keyCreated).toMatchObject({ actorName: admin.user.email, resourceName: `${created.apiKey.name} (${admin.user.email})` });

    const live: AuditEntry[] = [];
    const ws = socket(admin.session.token);
    ws.trpc.audit.onEvent.subscribe({ action: 'auth.login' }, { onData: (e) => live.push((e as { data: AuditEntry }).data) });
    await new Promise((r) => setTimeout(r, 300));
    await signIn(server, trader.user);
    await expect.poll(() => live.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(live[0]).toMatchObject({ actorType: 'user', actorId: trader.user.id, actorName: trader.user.email });
    // A non-uuid actor (the filter tests' 'u-1') has no name, and no field for one.
    const [unnamed] = (await admin.session.client.audit.list.query({ actor: 'u-1', limit: 1 })).items;
    if (unnamed) expect(unnamed).not.toHaveProperty('actorName');
  });

  it('keeps the live tail and the integrity check for signed-in admins: a logs.view key is refused', async () => {
    const created = await admin.session.client.apiKeys.create.mutate({ name: unique('tailer'), permissions: ['logs.view'] });
    const key = keyClient(server, created.key);
    const refused = await rejectionOf(key.audit.verify.mutate({}));
    expect(errorData(refused)).toMatchObject({ code: 'FORBIDDEN', reason: 'SESSION_REQUIRED' });
    const tail = await rawCall(server, 'audit.onEvent', 'subscription', { headers: { 'x-api-key': created.key }, input: {}, subscriptionWaitMs: 1_500 });
    expect(tail.error?.data).toMatchObject({ code: 'FORBIDDEN', reason: 'SESSION_REQUIRED' });
  });

  it('writes audit.exported (HIGH) durably before the first byte, naming the reader, format and filters', async () => {
    const tag = unique('exported');
    await record(volume(tag, 2));
    const client = streamClient(admin.session.token);
    const stream = await client.audit.export.query({ format: 'csv', resourceType: tag, limit: 5 });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    // Read without flushing the writer: the row is in the table already.
    const rows = (await server.app.deps.db.query.auditLogs.findMany({ where: (a, { eq }) => eq(a.action, 'audit.exported') })).filter(
      (r) => (r.details as { filters?: { resourceType?: string } }).filters?.resourceType === tag,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actorType: 'user', actorId: admin.user.id, severity: 'HIGH', outcome: 'success' });
    expect(rows[0]!.details).toMatchObject({ format: 'csv', filters: { resourceType: tag }, limit: 5 });
    await iterator.return?.();
  });
});

describe('audit.export', () => {
  const tag = unique('export');
  let rows: AuditLog[];
  beforeAll(async () => {
    await record(volume(tag, 2_500));
    rows = newestFirst(await tagRows(tag));
    expect(rows).toHaveLength(2_500);
  });

  it('streams NDJSON newest first in several chunks, one row per line, equal to the stored rows', async () => {
    const chunks = await drain(await streamClient(admin.session.token).audit.export.query({ format: 'ndjson', resourceType: tag }));
    // Pages of ~1000 rows, each its own chunk: never one string for everything.
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks) expect(chunk.endsWith('\n')).toBe(true);
    const lines = chunks.join('').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(2_500);
    const parsed = lines.map((l) => JSON.parse(l) as AuditEntry);
    expect(parsed).toEqual(rows.map(entryOf));
  });

  it('stops at `limit`, keeping the newest rows', async () => {
    const client = streamClient(admin.session.token);
    const ndjson = (await drain(await client.audit.export.query({ format: 'ndjson', resourceType: tag, limit: 1_234 }))).join('');
    const lines = ndjson.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AuditEntry).id)).toEqual(rows.slice(0, 1_234).map((r) => r.id));
    const csv = parseCsv((await drain(await client.audit.export.query({ format: 'csv', resourceType: tag, limit: 7 }))).join(''));
    expect(csv).toHaveLength(8);
    expect(csv.slice(1).map((c) => c[0])).toEqual(rows.slice(0, 7).map((r) => r.id));
  });

  it('streams CSV: a header, then one RFC 4180 record per row with details as JSON', async () => {
    const chunks = await drain(await streamClient(admin.session.token).audit.export.query({ format: 'csv', resourceType: tag }));
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const records = parseCsv(chunks.join(''));
    expect(records[0]).toEqual([...CSV_HEADER]);
    expect(records).toHaveLength(2_501);
    records.slice(1).forEach((record, i) => {
      const entry = entryOf(rows[i]!);
      expect(record).toEqual(CSV_HEADER.map((c) => expectedCell(entry[c])));
      expect(JSON.parse(record[CSV_HEADER.indexOf('details')]!)).toEqual(entry.details);
    });
  });

  it('exports only the filtered rows, and an empty export is just the header', async () => {
    const client = streamClient(admin.session.token);
    const expected = rows.filter((r) => r.actorId === 'u-3' && r.action === 'auth.login_failed');
    expect(expected.length).toBeGreaterThan(0);
    const text = (await drain(await client.audit.export.query({ format: 'ndjson', resourceType: tag, actor: 'u-3', action: 'auth.login_failed' }))).join('');
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as AuditEntry).id)).toEqual(expected.map((r) => r.id));

    const none = { format: 'csv' as const, resourceType: unique('nothing') };
    expect(parseCsv((await drain(await client.audit.export.query(none))).join(''))).toEqual([[...CSV_HEADER]]);
    expect((await drain(await client.audit.export.query({ ...none, format: 'ndjson' }))).join('')).toBe('');
  });

  it('quotes commas, quotes and line breaks, and neutralises formula injection', async () => {
    const evil = unique('evil');
    const tricky: AuditEvent[] = [
      {
        action: 'user.created',
        outcome: 'success',
        actor: { type: 'user', id: '=cmd()' },
        origin: { ip: '-2+3', userAgent: '@SUM(1+1)*cmd|\' /C calc\'!A0', requestId: '+1' },
        resource: { type: evil, id: '=cmd()' },
        details: { note: 'comma, "quote"\nnew line\r\nand CRLF', formula: '=HYPERLINK("http://evil.example","x")' },
      },
      {
        action: 'user.created',
        outcome: 'success',
        actor: { type: 'user', id: 'a,b"c\nd' },
        origin: { ip: '\tTAB', userAgent: '\rCR', requestId: '=1,"2"\n3' },
        resource: { type: evil, id: '"quoted", =later' },
        details: {},
      },
    ];
    await record(tricky, { spreadMs: 5 });
    const stored = newestFirst(await tagRows(evil));
    expect(stored).toHaveLength(2);

    const text = (await drain(await streamClient(admin.session.token).audit.export.query({ format: 'csv', resourceType: evil }))).join('');
    const records = parseCsv(text);
    expect(records).toHaveLength(3);
    records.slice(1).forEach((record, i) => {
      const entry = entryOf(stored[i]!);
      expect(record).toEqual(CSV_HEADER.map((c) => expectedCell(entry[c])));
    });
    // No cell a spreadsheet would evaluate is left.
    for (const cell of records.flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    const [newest, oldest] = records.slice(1) as [string[], string[]];
    const col = (name: (typeof CSV_HEADER)[number]) => CSV_HEADER.indexOf(name);
    expect(oldest[col('resourceId')]).toBe("'=cmd()");
    expect(oldest[col('actorId')]).toBe("'=cmd()");
    expect(oldest[col('ip')]).toBe("'-2+3");
    expect(oldest[col('userAgent')]).toBe("'@SUM(1+1)*cmd|' /C calc'!A0");
    expect(oldest[col('requestId')]).toBe("'+1");
    expect(JSON.parse(oldest[col('details')]!)).toEqual(tricky[0]!.details);
    expect(newest[col('actorId')]).toBe('a,b"c\nd');
    expect(newest[col('ip')]).toBe("'\tTAB");
    expect(newest[col('userAgent')]).toBe("'\rCR");
    expect(newest[col('requestId')]).toBe('\'=1,"2"\n3');
    expect(newest[col('resourceId')]).toBe('"quoted", =later');
    // On the wire: quoted with doubled quotes.
    expect(text).toContain('"a,b""c\nd"');
    expect(text).toContain('"""quoted"", =later"');
  });
});

describe('audit.onEvent', () => {
  type Tracked = { id: string; data: AuditEntry };

  /** Subscribes and waits until the server's tail is listening: its audit.tail_started row exists. */
  async function subscribe(ws: WsTestClient, input: { resourceType: string; lastEventId?: string } & Record<string, string>) {
    const events: Tracked[] = [];
    const errors: unknown[] = [];
    const resumedAfter = input.lastEventId ?? null;
    const sub = ws.trpc.audit.onEvent.subscribe(input, {
      onData: (e) => events.push(e as Tracked),
      onError: (e) => errors.push(e),
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (errors.length) throw errors[0];
      const rows = await auditRows(
        server,
        (r) =>
          r.action === 'audit.tail_started' &&
          r.actorId === admin.user.id &&
          (r.details as { filters?: { resourceType?: string } }).filters?.resourceType === input.resourceType &&
          (r.details as { resumedAfter?: string | null }).resumedAfter === resumedAfter,
      );
      if (rows.length) break;
      if (Date.now() > deadline) throw new Error('the tail did not start');
      await sleep(20);
    }
    return { events, errors, stop: () => sub.unsubscribe() };
  }

  it('delivers newly committed rows live, only those matching the filter, in order', async () => {
    const tag = unique('live');
    const ws = socket(admin.session.token);
    const live = await subscribe(ws, { resourceType: tag, minSeverity: 'MEDIUM' });

    const ev = (action: AuditEvent['action'], type: string, id: string): AuditEvent => ({
      action,
      outcome: 'success',
      actor: { type: 'user', id: admin.user.id },
      origin: origin(),
      resource: { type, id },
    });
    // Queued together, so one batch (one commit notice) carries them.
    const events = [
      ev('auth.login', tag, 'low-1'), // LOW: filtered out
      ev('user.created', tag, 'medium-1'),
      ev('user.created', unique('other'), 'other-1'), // another resource type
      ev('auth.logout', tag, 'low-2'),
      ev('user.disabled', tag, 'high-1'),
      ev('audit.chain_broken', tag, 'critical-1'),
      ev('session.revoked', tag, 'medium-2'),
    ];
    await record(events);
    await waitFor(() => live.events.length >= 4, 10_000, 'four live events');
    // A later batch arrives too.
    await record([ev('user.enabled', tag, 'medium-3'), ev('session.created', tag, 'low-3')]);
    await waitFor(() => live.events.length >= 5, 10_000, 'the fifth live event');
    await sleep(400);
    expect(live.errors).toEqual([]);
    expect(live.events.map((e) => e.data.resourceId)).toEqual(['medium-1', 'high-1', 'critical-1', 'medium-2', 'medium-3']);

    const stored = await tagRows(tag);
    for (const e of live.events) {
      expect(e.id).toBe(e.data.id);
      // The stored row, plus the actor's name as the tail reads it now.
      expect(e.data).toEqual({ ...entryOf(stored.find((r) => r.id === e.id)!), actorName: admin.user.email });
    }
    live.stop();
  });

  it('resumes after lastEventId with the missed rows in order, then live, without duplicates', async () => {
    const tag = unique('resume');
    const ev = (i: number, type = tag): AuditEvent => ({
      action: 'user.created',
      outcome: 'success',
      actor: { type: 'system' },
      origin: origin(),
      resource: { type, id: `row-${i}` },
      details: { i },
    });
    const ws = socket(admin.session.token);
    const first = await subscribe(ws, { resourceType: tag });
    // A millisecond apart, so (at, id) order is the order they were written in.
    await record([ev(0), ev(1), ev(2)], { spreadMs: 1 });
    await waitFor(() => first.events.length >= 3, 10_000, 'the first three events');
    first.stop();
    const lastEventId = first.events[2]!.id;
    expect(first.events.map((e) => e.data.resourceId)).toEqual(['row-0', 'row-1', 'row-2']);

    // Missed while away, with rows of another type in between; enough of them that the backfill
    // takes a while.
    const missed = 1_500;
    const away = Array.from({ length: missed }, (_, i) => ev(i + 3));
    away.splice(2, 0, ev(100_000, unique('other')));
    away.splice(700, 0, ev(100_001, unique('other')));
    await record(away, { spreadMs: 1 });

    // Rows keep arriving while the second tail starts and backfills: a row committed just before
    // the backfill query is also announced live and must come out once; one committed just after
    // it must still come (live).
    let writing = true;
    let next = missed + 3;
    const writer = (async () => {
      for (let i = 0; writing && i < 500; i++) {
        await record([ev(next++), ev(next++)], { spreadMs: 1 });
        await sleep(2);
      }
    })();
    const second = await subscribe(socket(admin.session.token), { resourceType: tag, lastEventId });
    await waitFor(() => second.events.length >= missed, 20_000, 'the backfill');
    await sleep(50);
    writing = false;
    await writer;
    await record([ev(next++)], { spreadMs: 1 });
    const total = next - 3;
    await waitFor(() => second.events.length >= total, 20_000, `${total} events after resuming`);
    await sleep(400);

    expect(second.errors).toEqual([]);
    const ids = second.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(second.events.map((e) => e.data.resourceId)).toEqual(Array.from({ length: total }, (_, i) => `row-${i + 3}`));
    expect(ids).not.toContain(lastEventId);

    // A commit notice naming rows already delivered (as one does when a batch commits between the
    // tail's LISTEN and its backfill query, or when a retried batch is announced again) adds nothing.
    const delivered = (await tagRows(tag)).filter((r) => ids.includes(r.id));
    expect(delivered).toHaveLength(total);
    const chainId = delivered[0]!.chainId;
    expect(delivered.every((r) => r.chainId === chainId)).toBe(true);
    const seqs = delivered.map((r) => r.seq);
    await server.app.deps.bus.publish(AUDIT_COMMITTED_CHANNEL, { chainId, fromSeq: Math.min(...seqs), toSeq: Math.max(...seqs) });
    await record([ev(next++)], { spreadMs: 1 });
    await waitFor(() => second.events.length >= total + 1, 10_000, 'the event after the repeated notice');
    await sleep(400);
    expect(second.events.map((e) => e.data.resourceId)).toEqual(Array.from({ length: total + 1 }, (_, i) => `row-${i + 3}`));
    second.stop();
  });

  it('treats an unknown lastEventId as nothing to replay', async () => {
    const tag = unique('unknown-last');
    const ws = socket(admin.session.token);
    await record([{ action: 'user.created', outcome: 'success', actor: { type: 'system' }, origin: origin(), resource: { type: tag, id: 'old' } }]);
    const live = await subscribe(ws, { resourceType: tag, lastEventId: randomUUID() });
    await record([{ action: 'user.created', outcome: 'success', actor: { type: 'system' }, origin: origin(), resource: { type: tag, id: 'new' } }]);
    await waitFor(() => live.events.length >= 1, 10_000, 'the live event');
    await sleep(200);
    expect(live.events.map((e) => e.data.resourceId)).toEqual(['new']);
    live.stop();
  });

  it('records audit.tail_started once per subscription and stops delivering after unsubscribe', async () => {
    const tag = unique('stop');
    const ws = socket(admin.session.token);
    const live = await subscribe(ws, { resourceType: tag });
    live.stop();
    await sleep(100);
    await record([{ action: 'user.created', outcome: 'success', actor: { type: 'system' }, origin: origin(), resource: { type: tag, id: 'x' } }]);
    await sleep(300);
    expect(live.events).toEqual([]);
    const started = await auditRows(
      server,
      (r) => r.action === 'audit.tail_started' && (r.details as { filters?: { resourceType?: string } }).filters?.resourceType === tag,
    );
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ actorType: 'user', actorId: admin.user.id, severity: 'MEDIUM' });
    // The socket still answers.
    expect((await ws.trpc.auth.me.query()).user.id).toBe(admin.user.id);
  });
});

describe('input validation', () => {
  it('answers unknown keys, bad enums, bad times and out-of-range limits with BAD_REQUEST', async () => {
    const list = admin.session.client.audit.list;
    const bad: unknown[] = [
      { bogus: 1 },
      { severity: 'SEVERE' },
      { minSeverity: 'low' },
      { action: 'audit.deleted' },
      { outcome: 'maybe' },
      { actorType: 'robot' },
      { from: 'yesterday' },
      { to: '2024-01-01' },
      { limit: 501 },
      { limit: 0 },
      { limit: 1.5 },
      { actor: '' },
      { ip: 'x'.repeat(65) },
      { resourceId: 'x'.repeat(201) },
    ];
    for (const input of bad) {
      const err = await expectCode(list.query(input as never), 'BAD_REQUEST');
      expect(errorData(err).httpStatus, JSON.stringify(input)).toBe(400);
    }

    const exp = streamClient(admin.session.token).audit.export;
    const badExport: unknown[] = [
      {},
      { format: 'xml' },
      { format: 'csv', limit: 1_000_001 },
      { format: 'csv', limit: 0 },
      { format: 'ndjson', cursor: 'x' },
      { format: 'ndjson', severity: 'SEVERE' },
    ];
    for (const input of badExport) await expectCode(exp.query(input as never), 'BAD_REQUEST');

    const ws = socket(admin.session.token);
    for (const input of [{ bogus: 1 }, { minSeverity: 'SEVERE' }, { lastEventId: 'x'.repeat(101) }]) {
      const errors: unknown[] = [];
      const sub = ws.trpc.audit.onEvent.subscribe(input as never, { onError: (e) => errors.push(e) });
      await waitFor(() => errors.length > 0, 5_000, 'the subscription to be refused');
      sub.unsubscribe();
      expect(errorData(errors[0]).code, JSON.stringify(input)).toBe('BAD_REQUEST');
    }
  });
});
