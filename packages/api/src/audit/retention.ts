import { and, eq, gt, lt, lte, max, sql } from 'drizzle-orm';
import { auditChains, auditLogs, type Database } from '@tapevision/db';
import type { Logger } from 'pino';
import type { Clock } from '../deps.ts';
import { chainRecordValid, signChainRecord, type AuditIntegrity } from './integrity.ts';
import type { AuditRecorder } from './recorder.ts';
import { walkChain } from './verify.ts';

// Same key in every process, so two servers never cut the same chain at once.
const RETENTION_LOCK = 7_401_236_116;
const DAY_MS = 24 * 3600 * 1000;
const EVERY_MS = 3600 * 1000;

/** Most rows cut from one chain per transaction, so no single transaction holds the database long. */
const BATCH_ROWS = 10_000;

/**
 * Removes rows older than `before`, a chain at a time. Each cut is anchored: the chain's anchor
 * moves to the last removed row's seq and hash, signed under the audit key, in the same
 * transaction, so what remains still verifies from there, a row deleted any other way still shows
 * as a gap, and an anchor moved by anyone without the key does not verify.
 *
 * Only the part of a chain that verifies is cut: a cut stops before a changed, deleted or
 * reordered row, so retention never erases the evidence of tampering. Rows of chains no writer
 * registered are left alone for the same reason. Runs in batches; several runs at once (one per
 * process) take turns and remove each row once.
 */
export interface RetentionResult {
  removed: number;
  chains: number;
  /** Where each cut chain's anchor now is: what audit.retention_applied records. */
  cuts: { chainId: string; anchorSeq: number; anchorHash: string }[];
}

export async function applyAuditRetention(deps: { db: Database; auditIntegrity: AuditIntegrity }, before: Date): Promise<RetentionResult> {
  let removed = 0;
  const cuts = new Map<string, RetentionResult['cuts'][number]>();
  for (;;) {
    const batch = await retentionBatch(deps, before);
    removed += batch.removed;
    for (const cut of batch.cuts) cuts.set(cut.chainId, cut);
    if (batch.removed === 0 || !batch.more) break;
  }
  return { removed, chains: cuts.size, cuts: [...cuts.values()] };
}

async function retentionBatch(
  { db, auditIntegrity: { keys } }: { db: Database; auditIntegrity: AuditIntegrity },
  before: Date,
): Promise<{ removed: number; cuts: RetentionResult['cuts']; more: boolean }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${RETENTION_LOCK})`);
    const due = await tx
      .select({ chainId: auditLogs.chainId, seq: max(auditLogs.seq) })
      .from(auditLogs)
      .innerJoin(auditChains, eq(auditChains.chainId, auditLogs.chainId))
      .where(and(lt(auditLogs.at, before), gt(auditLogs.seq, auditChains.anchorSeq)))
      .groupBy(auditLogs.chainId);
    let removed = 0;
    let more = false;
    const cuts: RetentionResult['cuts'] = [];
    for (const cut of due) {
      if (cut.seq == null) continue;
      const [chain] = await tx.select().from(auditChains).where(eq(auditChains.chainId, cut.chainId));
      // An anchor no one with the key set is evidence: cutting from it would sign it.
      if (!chain || !chainRecordValid(keys, chain)) continue;
      const target = Math.min(Number(cut.seq), chain.anchorSeq + BATCH_ROWS);
      if (target < Number(cut.seq)) more = true;
      const walked = await walkChain(tx, keys, chain, { seq: chain.anchorSeq, hash: chain.anchorHash }, target);
      const end = walked.last;
      if (end.seq <= chain.anchorSeq) continue;
      const deleted = await tx
        .delete(auditLogs)
        .where(and(eq(auditLogs.chainId, chain.chainId), gt(auditLogs.seq, chain.anchorSeq), lte(auditLogs.seq, end.seq)))
        .returning({ id: auditLogs.id });
      // Last, so the chain's row (which every insert of its writer updates) stays locked briefly.
      await tx
        .update(auditChains)
        .set({
          anchorSeq: end.seq,
          anchorHash: end.hash,
          ...signChainRecord(keys, { ...chain, anchorSeq: end.seq, anchorHash: end.hash }),
          updatedAt: sql`now()`,
        })
        .where(eq(auditChains.chainId, chain.chainId));
      removed += deleted.length;
      cuts.push({ chainId: chain.chainId, anchorSeq: end.seq, anchorHash: end.hash });
    }
    return { removed, cuts, more };
  });
}

export interface RetentionJob {
  runNow(): Promise<{ removed: number; chains: number }>;
  /** Stops the timers and waits for a run in progress, so its audit row is written before shutdown. */
  stop(): Promise<void>;
}

/** Runs retention hourly (and shortly after start) when `retentionDays` is set; 0 keeps everything. */
export function startAuditRetention(deps: {
  db: Database;
  auditIntegrity: AuditIntegrity;
  audit: AuditRecorder;
  clock: Clock;
  logger: Logger;
  retentionDays: number;
}): RetentionJob {
  async function runNow() {
    // 0 keeps everything, however the job is started.
    if (deps.retentionDays <= 0) return { removed: 0, chains: 0 };
    const before = new Date(deps.clock.now().getTime() - deps.retentionDays * DAY_MS);
    const { cuts, ...result } = await applyAuditRetention(deps, before);
    if (result.removed > 0) {
      await deps.audit.record({
        action: 'audit.retention_applied',
        outcome: 'success',
        actor: { type: 'system' },
        origin: { ip: null, userAgent: null, requestId: null },
        details: { removed: result.removed, chains: result.chains, before: before.toISOString(), retentionDays: deps.retentionDays, cuts },
      });
    }
    return result;
  }
  if (deps.retentionDays <= 0) return { runNow, stop: async () => {} };
  let inFlight: Promise<unknown> | null = null;
  const run = () => {
    inFlight ??= runNow()
      .catch((err: unknown) => deps.logger.error({ err }, 'audit retention failed'))
      .finally(() => {
        inFlight = null;
      });
  };
  const first = setTimeout(run, 10_000);
  const timer = setInterval(run, EVERY_MS);
  first.unref();
  timer.unref();
  return {
    runNow,
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await inFlight;
    },
  };
}
