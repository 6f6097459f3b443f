import { and, asc, count, eq, gt, gte, lt, lte, max, min, notExists, type SQL } from 'drizzle-orm';
import { auditChains, auditLogs, type AuditChain, type AuditLog, type Database, type Queryable } from '@tapevision/db';
import { verifyChain, type ChainBreak, type ChainedRow } from './chain.ts';
import { readCheckpoints, type CheckpointHead } from './checkpoints.ts';
import { chainRecordValid, legacySealOf, type AuditIntegrity } from './integrity.ts';
import type { AuditKeyring } from './keys.ts';

export interface VerifyRange {
  from?: Date | undefined;
  to?: Date | undefined;
}

export type AuditBreak = (
  | ChainBreak
  | { kind: 'truncated'; chainId: string; expectedSeq: number; lastSeq: number }
  | { kind: 'unregistered'; chainId: string }
  /** A chain a checkpoint names that the database no longer has (its rows and its audit_chains row gone). */
  | { kind: 'deleted'; chainId: string; expectedSeq: number }
  /** The chain's anchor (or legacy seal) is not one retention or the cut-over signed. */
  | { kind: 'moved'; chainId: string; anchorSeq: number }
  /** A checkpoint line whose MAC or link to the line before is wrong. */
  | { kind: 'checkpoint'; chainId: null; file: string; line: number }
) & {
  /**
   * The row where the break shows: the changed row, the first row after a gap, the last row left
   * of a truncated chain, the first row of an unregistered one.
   */
  rowId: string | null;
  at: string | null;
  message: string;
};

export interface VerifyReport {
  ok: boolean;
  chains: number;
  rowsChecked: number;
  /** The earliest break in time, the row an auditor looks at first. */
  firstBreak: AuditBreak | null;
  /** The first break of each broken chain (and one per unregistered chain). */
  breaks: AuditBreak[];
}

const PAGE = 5_000;
// Retention may move a chain's anchor while it is being walked: its cut then looks like a gap at
// the start. The chain is walked again from the new anchor, a few times at most.
const ANCHOR_RETRIES = 3;

type Position = { seq: number; hash: string };

/**
 * Walks every chain (or the part of it inside the time range) in sequence order, a page at a time,
 * checking each row's HMAC under the audit key, and reports the first row per chain that was
 * changed, deleted or reordered, chains whose newest rows were cut off (their head, kept in
 * audit_chains or recorded by a checkpoint, is missing), rows of chains no writer registered,
 * chains a checkpoint names that are gone, anchors no retention run set, and bad checkpoint lines.
 *
 * With a range, the rows whose time falls inside it are checked, together with their links to the
 * row just before and just after the range: a row deleted at the edge of the range may have been
 * inside it, so such a gap is reported; breaks further out are not.
 */
export async function verifyAuditLog(
  deps: { db: Database; auditIntegrity: AuditIntegrity },
  range: VerifyRange = {},
): Promise<VerifyReport> {
  const { db } = deps;
  const { keys } = deps.auditIntegrity;
  const breaks: AuditBreak[] = [];
  let rowsChecked = 0;

  // Checkpoints before chains: every chain a checkpoint names was registered before it was written.
  const pins = readCheckpoints(keys, deps.auditIntegrity.checkpointFiles);
  for (const p of pins.problems) {
    breaks.push({ kind: 'checkpoint', chainId: null, file: p.file, line: p.line, rowId: null, at: null, message: p.message });
  }

  for (const stray of await unregisteredChains(db, range)) breaks.push(stray);

  const chains = await db.select().from(auditChains).orderBy(asc(auditChains.startedAt), asc(auditChains.chainId));
  const registered = new Set(chains.map((c) => c.chainId));
  for (const [chainId, pin] of pins.heads) {
    if (registered.has(chainId)) continue;
    breaks.push({
      kind: 'deleted',
      chainId,
      expectedSeq: pin.seq,
      rowId: null,
      at: null,
      message: `chain ${chainId}, which the checkpoint of ${pin.at} recorded up to row ${pin.seq}, is gone from the database`,
    });
  }
  for (let chain of chains) {
    const pin = pins.heads.get(chain.chainId);
    let result = await verifyOneChain(db, keys, chain, range, pin);
    for (let attempt = 1; result.break && attempt < ANCHOR_RETRIES; attempt++) {
      const [now] = await db.select().from(auditChains).where(eq(auditChains.chainId, chain.chainId));
      if (!now || now.anchorSeq === chain.anchorSeq) break;
      chain = now;
      result = await verifyOneChain(db, keys, chain, range, pin);
    }
    rowsChecked += result.rows;
    if (result.break) breaks.push(result.break);
  }

  const sorted = [...breaks].sort(byTime);
  return { ok: breaks.length === 0, chains: chains.length, rowsChecked, firstBreak: sorted[0] ?? null, breaks };
}

// Earliest first; breaks without a row (a chain with nothing left) last.
function byTime(a: AuditBreak, b: AuditBreak): number {
  if (a.at === b.at) return 0;
  if (a.at === null) return 1;
  if (b.at === null) return -1;
  return a.at < b.at ? -1 : 1;
}

function inRange(range: VerifyRange): SQL | undefined {
  return and(range.from ? gte(auditLogs.at, range.from) : undefined, range.to ? lte(auditLogs.at, range.to) : undefined);
}

/**
 * Rows whose chain is not in audit_chains. One statement, so a writer that registers meanwhile
 * (it registers in the transaction that inserts its first rows) is never taken for a forger.
 */
async function unregisteredChains(db: Database, range: VerifyRange): Promise<AuditBreak[]> {
  const strays = await db
    .select({ chainId: auditLogs.chainId, rows: count() })
    .from(auditLogs)
    .where(
      and(
        notExists(db.select({ one: auditChains.chainId }).from(auditChains).where(eq(auditChains.chainId, auditLogs.chainId))),
        inRange(range),
      ),
    )
    .groupBy(auditLogs.chainId)
    .orderBy(asc(auditLogs.chainId));
  const found: AuditBreak[] = [];
  for (const { chainId, rows } of strays) {
    const [first] = await db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.chainId, chainId), inRange(range)))
      .orderBy(asc(auditLogs.at), asc(auditLogs.seq))
      .limit(1);
    found.push({
      kind: 'unregistered',
      chainId,
      rowId: first?.id ?? null,
      at: first?.at.toISOString() ?? null,
      message: `${rows} row${rows === 1 ? '' : 's'} of chain ${chainId}, which no writer registered`,
    });
  }
  return found;
}

async function verifyOneChain(
  db: Database,
  keys: AuditKeyring,
  registeredChain: AuditChain,
  range: VerifyRange,
  pin: (CheckpointHead & { at: string }) | undefined,
): Promise<{ rows: number; break: AuditBreak | null }> {
  const { chainId } = registeredChain;
  const ranged = range.from !== undefined || range.to !== undefined;
  // A checkpoint past the registered head: the head was lowered to hide the rows cut off after it.
  const pinned = pin !== undefined && pin.seq > registeredChain.headSeq;
  const chain = pinned ? { ...registeredChain, headSeq: pin.seq, headHash: pin.hash } : registeredChain;
  if (!chainRecordValid(keys, chain)) {
    const [first] = await db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, chain.anchorSeq)))
      .orderBy(asc(auditLogs.seq))
      .limit(1);
    return {
      rows: 0,
      break: {
        kind: 'moved',
        chainId,
        anchorSeq: chain.anchorSeq,
        rowId: first?.id ?? null,
        at: first?.at.toISOString() ?? null,
        message:
          chain.anchorSeq > 0
            ? `the anchor of chain ${chainId} was moved to row ${chain.anchorSeq}, which no audit.retention_applied row explains`
            : `the anchor or legacy seal of chain ${chainId} in audit_chains was changed`,
      },
    };
  }
  // Retention removes every row up to the anchor (and seq starts at 1): a row there was put back
  // or forged, and would otherwise sit outside everything that is checked.
  const [stray] = await db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.chainId, chainId), lte(auditLogs.seq, chain.anchorSeq), inRange(range)))
    .orderBy(asc(auditLogs.seq))
    .limit(1);
  if (stray) {
    return {
      rows: 0,
      break: {
        kind: 'unregistered',
        chainId,
        rowId: stray.id,
        at: stray.at.toISOString(),
        message: `row ${stray.seq} of chain ${chainId} lies at or before the chain's anchor (row ${chain.anchorSeq}), where no row was written or kept`,
      },
    };
  }
  // Rows at or below the anchor are what retention cut off; nothing verifies them any more.
  const [bounds] = await db
    .select({ first: min(auditLogs.seq), last: max(auditLogs.seq) })
    .from(auditLogs)
    .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, chain.anchorSeq), inRange(range)));
  if (bounds?.first == null || bounds.last == null) {
    // Nothing inside a range says nothing; nothing at all after the anchor means every row went.
    if (ranged || chain.headSeq <= chain.anchorSeq) return { rows: 0, break: null };
    return { rows: 0, break: truncated(chain, chain.anchorSeq, undefined, pinned ? pin.at : undefined) };
  }
  const first = Number(bounds.first);
  const last = Number(bounds.last);

  let anchor: Position = { seq: chain.anchorSeq, hash: chain.anchorHash };
  if (first > chain.anchorSeq + 1) {
    // Verifying from the middle: the row before the range must still be there and link up.
    const [before] = await db
      .select({ seq: auditLogs.seq, hash: auditLogs.hash })
      .from(auditLogs)
      .where(and(eq(auditLogs.chainId, chainId), eq(auditLogs.seq, first - 1)));
    if (!before) {
      const [previous] = await db
        .select({ seq: max(auditLogs.seq) })
        .from(auditLogs)
        .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, chain.anchorSeq), lt(auditLogs.seq, first)));
      const expectedSeq = (previous?.seq == null ? chain.anchorSeq : Number(previous.seq)) + 1;
      const row = await rowAt(db, chainId, first);
      return { rows: 0, break: describeBreak({ kind: 'missing', chainId, expectedSeq, foundSeq: first }, row) };
    }
    anchor = before;
  }

  const walked = await walkChain(db, keys, chain, anchor, last);
  if (walked.break) return { rows: walked.rows, break: describeBreak(walked.break, walked.breakRow) };
  const end = walked.last;

  if (end.seq < chain.headSeq) {
    // The chain goes on past what was checked: the next row must be there and link up, or the
    // writer's registered head shows the newest rows were cut off.
    const [next] = await db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, end.seq)))
      .orderBy(asc(auditLogs.seq))
      .limit(1);
    const lastRow = walked.lastRow ?? (await rowAt(db, chainId, end.seq));
    if (!next) return { rows: walked.rows, break: truncated(chain, end.seq, lastRow, pinned ? pin.at : undefined) };
    if (next.seq !== end.seq + 1) {
      return { rows: walked.rows, break: describeBreak({ kind: 'missing', chainId, expectedSeq: end.seq + 1, foundSeq: next.seq }, next) };
    }
    if (next.prevHash !== end.hash) return { rows: walked.rows, break: describeBreak({ kind: 'relinked', chainId, seq: next.seq }, next) };
  } else if (end.seq === chain.headSeq && end.hash !== chain.headHash) {
    // Every link holds but the head is not the row the writer wrote: the tail was rewritten.
    return { rows: walked.rows, break: describeBreak({ kind: 'changed', chainId, seq: end.seq }, walked.lastRow) };
  }
  return { rows: walked.rows, break: null };
}

export interface ChainWalk {
  /** Rows checked, the breaking row included. */
  rows: number;
  /** The last row that verified (the anchor when none did). */
  last: Position;
  lastRow: AuditLog | undefined;
  break: ChainBreak | null;
  breakRow: AuditLog | undefined;
}

/**
 * Verifies a chain's rows after `anchor` up to `lastSeq`, a page at a time, and stops at the first
 * break. Shared with retention, which only ever cuts the part of a chain that verifies.
 */
export async function walkChain(
  db: Queryable,
  keys: AuditKeyring,
  chain: Pick<AuditChain, 'chainId' | 'legacySeq' | 'legacyHash'>,
  anchor: Position,
  lastSeq: number,
): Promise<ChainWalk> {
  const { chainId } = chain;
  const legacy = legacySealOf(chain);
  let position = anchor;
  let lastRow: AuditLog | undefined;
  let rows = 0;
  for (;;) {
    const page = await db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.chainId, chainId), gt(auditLogs.seq, position.seq), lte(auditLogs.seq, lastSeq)))
      .orderBy(asc(auditLogs.seq))
      .limit(PAGE);
    if (page.length === 0) return { rows, last: position, lastRow, break: null, breakRow: undefined };
    const found = verifyChain(page.map(toChained), keys, position, legacy);
    if (found) {
      const breakSeq = found.kind === 'missing' ? found.foundSeq : found.seq;
      const index = page.findIndex((r) => r.seq === breakSeq);
      const good = page.slice(0, index);
      const lastGood = good.at(-1);
      return {
        rows: rows + index + 1,
        last: lastGood ? { seq: lastGood.seq, hash: lastGood.hash } : position,
        lastRow: lastGood ?? lastRow,
        break: found,
        breakRow: page[index],
      };
    }
    rows += page.length;
    lastRow = page[page.length - 1]!;
    position = { seq: lastRow.seq, hash: lastRow.hash };
  }
}

async function rowAt(db: Database, chainId: string, seq: number): Promise<AuditLog | undefined> {
  const [row] = await db
    .select()
    .from(auditLogs)
    .where(and(eq(auditLogs.chainId, chainId), eq(auditLogs.seq, seq)));
  return row;
}

export function toChained(row: AuditLog): ChainedRow {
  return {
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
    keyId: row.keyId,
  };
}

function truncated(chain: AuditChain, lastSeq: number, lastRow: AuditLog | undefined, pinnedAt?: string): AuditBreak {
  const wrote = pinnedAt ? `the checkpoint of ${pinnedAt} recorded row ${chain.headSeq}` : `its writer wrote up to ${chain.headSeq}`;
  return {
    kind: 'truncated',
    chainId: chain.chainId,
    expectedSeq: chain.headSeq,
    lastSeq,
    rowId: lastRow?.id ?? null,
    at: lastRow?.at.toISOString() ?? null,
    message:
      lastSeq === chain.anchorSeq
        ? `every row of chain ${chain.chainId} after row ${lastSeq} is gone, but ${wrote}`
        : `chain ${chain.chainId} ends at row ${lastSeq} but ${wrote}`,
  };
}

function describeBreak(found: ChainBreak, row: AuditLog | undefined): AuditBreak {
  const where = { rowId: row?.id ?? null, at: row?.at.toISOString() ?? null };
  switch (found.kind) {
    case 'changed':
      return { ...found, ...where, message: `row ${found.seq} of chain ${found.chainId} was changed after it was written` };
    case 'unkeyed':
      return { ...found, ...where, message: `row ${found.seq} of chain ${found.chainId} is hashed without the audit key where only keyed rows belong` };
    case 'unverifiable':
      return {
        ...found,
        ...where,
        message: `row ${found.seq} of chain ${found.chainId} is signed with key id ${found.keyId}, which the audit key does not hold`,
      };
    case 'relinked':
      return { ...found, ...where, message: `row ${found.seq} of chain ${found.chainId} no longer links to the row before it` };
    case 'missing':
      return {
        ...found,
        ...where,
        message:
          found.foundSeq > found.expectedSeq
            ? found.foundSeq - 1 === found.expectedSeq
              ? `row ${found.expectedSeq} of chain ${found.chainId} was deleted`
              : `rows ${found.expectedSeq}..${found.foundSeq - 1} of chain ${found.chainId} were deleted`
            : `row ${found.foundSeq} of chain ${found.chainId} is out of order`,
      };
  }
}
