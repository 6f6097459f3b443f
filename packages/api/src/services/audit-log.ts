import { EventEmitter, on } from 'node:events';
import { and, asc, desc, eq, gt, inArray, lte, sql, type SQL } from 'drizzle-orm';
import { auditChains, auditLogs, type AuditLog } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import type { RequestOrigin, AuditActor } from '../audit/recorder.ts';
import { AUDIT_COMMITTED_CHANNEL, isAuditCommitted, type AuditCommitted } from '../audit/live.ts';
import { appError } from '../errors.ts';
import { AUDIT_FILTER_KEYS, SEVERITIES, type AuditEntry, type AuditExportInput, type AuditFilter, type AuditListInput, type AuditPage } from '../schemas/audit.ts';
import { toChained } from '../audit/verify.ts';
import { nameAuditEntries } from '../audit/names.ts';

/** Who is reading the log, for the audit row each read leaves. */
export interface AuditReader {
  actor: AuditActor;
  origin: RequestOrigin;
}

const DEFAULT_PAGE_SIZE = 50;
/** Rows per query while exporting: one chunk each, so memory stays flat however long the export. */
const EXPORT_PAGE_SIZE = 1_000;
/** Most rows a resuming tail replays; a client gone for longer should page through audit.list instead. */
const TAIL_BACKFILL_MAX = 5_000;
/** Ids a tail remembers to drop a row seen twice (backfill and live, or a retried batch's notice). */
const TAIL_SEEN_MAX = 10_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------------
// Filters, cursors, rows

/** Only the filters that are set, as the audit row of a read records them. */
function filtersOf(input: AuditFilter): AuditFilter {
  const filter: Record<string, unknown> = {};
  for (const key of FILTER_KEYS) if (input[key] !== undefined) filter[key] = input[key];
  return filter as AuditFilter;
}

const FILTER_KEYS = AUDIT_FILTER_KEYS;

/** Every filter ANDed; each one can use an index leading with its column. */
function filterConditions(f: AuditFilter): SQL[] {
  const conditions: (SQL | undefined)[] = [
    // Compared as timestamptz in SQL: a bound finer than a millisecond is not rounded by a JS Date.
    f.from !== undefined ? sql`${auditLogs.at} >= ${f.from}::timestamptz` : undefined,
    f.to !== undefined ? sql`${auditLogs.at} < ${f.to}::timestamptz` : undefined,
    f.actor !== undefined ? eq(auditLogs.actorId, f.actor) : undefined,
    f.actorType !== undefined ? eq(auditLogs.actorType, f.actorType) : undefined,
    f.action !== undefined ? eq(auditLogs.action, f.action) : undefined,
    f.outcome !== undefined ? eq(auditLogs.outcome, f.outcome) : undefined,
    f.severity !== undefined ? eq(auditLogs.severity, f.severity) : undefined,
    f.minSeverity !== undefined ? inArray(auditLogs.severity, SEVERITIES.slice(SEVERITIES.indexOf(f.minSeverity))) : undefined,
    f.ip !== undefined ? eq(auditLogs.ip, f.ip) : undefined,
    f.resourceType !== undefined ? eq(auditLogs.resourceType, f.resourceType) : undefined,
    f.resourceId !== undefined ? eq(auditLogs.resourceId, f.resourceId) : undefined,
  ];
  return conditions.filter((c) => c !== undefined);
}

interface Position {
  at: string;
  id: string;
}

function encodeCursor(row: AuditLog): string {
  return Buffer.from(JSON.stringify([row.at.toISOString(), row.id]), 'utf8').toString('base64url');
}

/** The cursor is opaque to clients but not trusted: anything that is not one of ours is a 400. */
function decodeCursor(cursor: string): Position {
  const invalid = () => appError('BAD_REQUEST', 'Invalid cursor', { reason: 'INVALID_CURSOR' });
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !UUID.test(id)) throw invalid();
  const time = new Date(at);
  if (Number.isNaN(time.getTime()) || time.toISOString() !== at) throw invalid();
  return { at, id };
}

// Row comparisons match the (at, id) index column for column, so Postgres seeks straight to the page.
const olderThan = (p: Position) => sql`(${auditLogs.at}, ${auditLogs.id}) < (${p.at}::timestamptz, ${p.id}::uuid)`;
const newerThan = (p: Position) => sql`(${auditLogs.at}, ${auditLogs.id}) > (${p.at}::timestamptz, ${p.id}::uuid)`;

/** One page newest first, limit + 1 rows so the caller knows whether another page follows. */
async function newestFirst(deps: Pick<ApiDeps, 'db'>, filter: AuditFilter, before: Position | null, limit: number): Promise<AuditLog[]> {
  const conditions = filterConditions(filter);
  if (before) conditions.push(olderThan(before));
  return deps.db
    .select()
    .from(auditLogs)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(auditLogs.at), desc(auditLogs.id))
    .limit(limit);
}

function toEntry(row: AuditLog): AuditEntry {
  // The signing key's id is the verifier's business; entries keep their published shape.
  const { keyId: _keyId, ...chained } = toChained(row);
  return { id: row.id, ...chained };
}

// ---------------------------------------------------------------------------------------------
// audit.list

export async function listAuditLog(deps: ApiDeps, input: AuditListInput, reader: AuditReader): Promise<AuditPage> {
  const limit = input.limit ?? DEFAULT_PAGE_SIZE;
  const before = input.cursor !== undefined ? decodeCursor(input.cursor) : null;
  const filters = filtersOf(input);
  const rows = await newestFirst(deps, filters, before, limit + 1);
  const page = rows.slice(0, limit);
  await deps.audit.record({
    action: 'audit.viewed',
    outcome: 'success',
    actor: reader.actor,
    origin: reader.origin,
    details: { filters, limit, returned: page.length, firstPage: before === null },
  });
  return {
    items: await nameAuditEntries(deps.db, page.map(toEntry)),
    nextCursor: rows.length > limit && page.length > 0 ? encodeCursor(page[page.length - 1]!) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// audit.export

const CSV_COLUMNS = [
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
] as const satisfies readonly (keyof AuditEntry)[];

/**
 * One RFC 4180 field. A cell a spreadsheet would read as a formula (= + - @, tab, CR) gets a
 * leading single quote first: the log holds attacker-chosen text (emails, user agents, details).
 */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(entry: AuditEntry): string {
  return CSV_COLUMNS.map((c) => csvCell(entry[c])).join(',') + '\r\n';
}

export async function* exportAuditLog(deps: ApiDeps, input: AuditExportInput, reader: AuditReader): AsyncGenerator<string> {
  const filters = filtersOf(input);
  // HIGH: resolves once the row is durable, so no byte leaves before the export is on record.
  await deps.audit.record({
    action: 'audit.exported',
    outcome: 'success',
    actor: reader.actor,
    origin: reader.origin,
    details: { format: input.format, filters, limit: input.limit ?? null },
  });
  const csv = input.format === 'csv';
  if (csv) yield CSV_COLUMNS.join(',') + '\r\n';
  let remaining = input.limit ?? Number.POSITIVE_INFINITY;
  let before: Position | null = null;
  while (remaining > 0) {
    const want = Math.min(EXPORT_PAGE_SIZE, remaining);
    const rows = await newestFirst(deps, filters, before, want);
    if (rows.length === 0) return;
    const entries = rows.map(toEntry);
    yield entries.map((e) => (csv ? csvLine(e) : JSON.stringify(e) + '\n')).join('');
    remaining -= rows.length;
    const last = rows[rows.length - 1]!;
    before = { at: last.at.toISOString(), id: last.id };
    if (rows.length < want) return;
  }
}

// ---------------------------------------------------------------------------------------------
// audit.onEvent

/** Rows after `lastEventId`'s row in (at, id) order, oldest first; none if that row is unknown. */
async function backfill(deps: Pick<ApiDeps, 'db'>, filter: AuditFilter, lastEventId: string): Promise<AuditLog[]> {
  if (!UUID.test(lastEventId)) return [];
  const [last] = await deps.db.select({ at: auditLogs.at, id: auditLogs.id }).from(auditLogs).where(eq(auditLogs.id, lastEventId));
  if (!last) return [];
  return deps.db
    .select()
    .from(auditLogs)
    .where(and(newerThan({ at: last.at.toISOString(), id: last.id }), ...filterConditions(filter)))
    .orderBy(asc(auditLogs.at), asc(auditLogs.id))
    .limit(TAIL_BACKFILL_MAX);
}

/** How far each chain was written when the tail started: rows up to there are history, not live. */
async function chainHeads(deps: Pick<ApiDeps, 'db'>): Promise<Map<string, number>> {
  const rows = await deps.db.select({ chainId: auditChains.chainId, headSeq: auditChains.headSeq }).from(auditChains);
  return new Map(rows.map((r) => [r.chainId, r.headSeq]));
}

/** A chain's rows with afterSeq < seq <= toSeq that match the filter, in chain order. */
async function chainRows(deps: Pick<ApiDeps, 'db'>, filter: AuditFilter, chainId: string, afterSeq: number, toSeq: number): Promise<AuditLog[]> {
  return deps.db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, afterSeq), lte(auditLogs.seq, toSeq), ...filterConditions(filter)))
    .orderBy(asc(auditLogs.seq));
}

/** Remembers the last `max` ids, forgetting the oldest first. */
function recentIds(max: number) {
  const ids = new Set<string>();
  return {
    /** True the first time an id is seen. */
    add(id: string): boolean {
      if (ids.has(id)) return false;
      ids.add(id);
      if (ids.size > max) ids.delete(ids.values().next().value as string);
      return true;
    },
  };
}

export async function* tailAuditLog(
  deps: ApiDeps,
  filter: AuditFilter & { lastEventId?: string | null | undefined },
  reader: AuditReader,
  signal: AbortSignal | undefined,
): AsyncGenerator<AuditEntry> {
  const filters = filtersOf(filter);
  // Listening before the chain heads and the backfill are read: a row committed in between is
  // in both, and comes out once. The iterator buffers from here on, while the backfill is yielded.
  const local = new EventEmitter();
  const notices = on(local, 'notice', signal ? { signal } : {});
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = await deps.bus.subscribe(AUDIT_COMMITTED_CHANNEL, (payload) => {
      if (isAuditCommitted(payload)) local.emit('notice', payload);
    });
    const readTo = await chainHeads(deps);
    await deps.audit.record({
      action: 'audit.tail_started',
      outcome: 'success',
      actor: reader.actor,
      origin: reader.origin,
      details: { filters, resumedAfter: filter.lastEventId ?? null },
    });
    const seen = recentIds(TAIL_SEEN_MAX);
    if (filter.lastEventId) {
      for (const entry of await nameAuditEntries(deps.db, (await backfill(deps, filters, filter.lastEventId)).map(toEntry))) {
        if (signal?.aborted) return;
        if (seen.add(entry.id)) yield entry;
      }
    }
    for await (const [payload] of notices) {
      const notice = payload as AuditCommitted;
      // A chain commits in seq order, so reading on from where this tail got to (not from fromSeq)
      // keeps that order when NOTIFYs from a connection pool overtake each other, covers a lost
      // notice, and reads nothing for a repeated one. A chain begun after the tail starts at 0.
      const after = readTo.get(notice.chainId) ?? 0;
      if (notice.toSeq <= after) continue;
      readTo.set(notice.chainId, notice.toSeq);
      const fresh = (await chainRows(deps, filters, notice.chainId, after, notice.toSeq)).filter((row) => seen.add(row.id));
      if (fresh.length) yield* await nameAuditEntries(deps.db, fresh.map(toEntry));
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe?.();
    await notices.return?.();
  }
}
