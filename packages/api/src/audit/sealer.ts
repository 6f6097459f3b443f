import { randomUUID } from 'node:crypto';
import { asc, desc, eq, inArray, lte } from 'drizzle-orm';
import { auditChains, auditOutbox, detachedFromRequest, type AuditOutboxRow, type Database, type Queryable } from '@tapevision/db';
import type { Logger } from 'pino';
import { createChainCursor, GENESIS_HASH, type ChainedContent } from './chain.ts';
import type { SigningKey } from './keys.ts';
import { insertRows, type AuditRow } from './writer.ts';

export interface AuditSealerOptions {
  db: Database;
  logger: Logger;
  /** The audit key (AUDIT_KEY's first entry) every row of this chain is signed with. */
  key: SigningKey;
  /** Most rows chained in one transaction. */
  batchSize?: number;
  /** How often to look for rows nobody kicked a seal for: another process's, or a killed one's. */
  pollMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Called after rows are sealed (the live tail's feed). */
  onCommitted?: (rows: readonly AuditRow[]) => void;
}

export interface AuditSealer {
  readonly chainId: string;
  /** Inserts one unsealed row inside the caller's transaction: it commits, or rolls back, with it. */
  insert(tx: Queryable, id: string, content: ChainedContent): Promise<void>;
  /** A transaction that may have written rows just ended: seal them now rather than at the next poll. */
  kick(): void;
  /** Seals every row committed before the call (this process's or any other's). */
  flush(): Promise<void>;
  /** Seals what is left (for at most `timeoutMs`; the rest waits in the outbox for the next start) and stops. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Moves committed rows from `audit_outbox` into `audit_logs`, chained on a chain of this process's
 * own, in one transaction per batch. FOR UPDATE SKIP LOCKED: several processes seal at once and
 * never chain one row twice. The hash is computed from the row as the database gives it back, so
 * it matches what verification reads. A chain of its own, apart from the batched writer's: a row
 * lost from that writer's memory in a crash must not leave a gap in this one.
 */
export function createAuditSealer(opts: AuditSealerOptions): AuditSealer {
  const batchSize = opts.batchSize ?? 1_000;
  const pollMs = opts.pollMs ?? 1_000;
  const retryInitialMs = opts.retryInitialMs ?? 100;
  const retryMaxMs = opts.retryMaxMs ?? 5_000;
  const { db, logger } = opts;
  const chainId = randomUUID();
  // Where this chain ends in the database; null after a failed seal, whose COMMIT may have landed.
  let position: { seq: number; hash: string } | null = { seq: 0, hash: GENESIS_HASH };
  let running: Promise<void> | null = null;
  let again = false;
  let failures = 0;
  let closed = false;
  let soon: NodeJS.Timeout | null = null;
  const poll = setInterval(() => kick(), pollMs);
  poll.unref();

  function kick(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = drainDetached().finally(() => {
      running = null;
      if (again && !closed) {
        again = false;
        schedule(failures ? backoff() : 0);
      }
    });
  }

  function schedule(delayMs: number) {
    if (soon) return;
    soon = setTimeout(() => {
      soon = null;
      kick();
    }, delayMs);
    soon.unref();
  }

  const backoff = () => Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(failures - 1, 16)) * (0.75 + Math.random() * 0.5);

  // Kicked from inside a request: a request its client gave up on must not refuse the seal.
  const drainDetached = detachedFromRequest(() => drain());

  async function drain(): Promise<void> {
    try {
      while ((await sealBatch()) === batchSize);
      failures = 0;
    } catch (err) {
      failures += 1;
      position = null;
      if (failures === 1 || failures % 20 === 0) logger.error({ err, failures }, 'audit sealing failed; rows stay in the outbox and are retried');
      again = true;
    }
  }

  async function sealBatch(): Promise<number> {
    position ??= await chainHead(db, chainId);
    const start = position;
    const sealed = await db.transaction(async (tx) => {
      const taken = await tx
        .delete(auditOutbox)
        .where(
          inArray(
            auditOutbox.id,
            tx.select({ id: auditOutbox.id }).from(auditOutbox).orderBy(asc(auditOutbox.id)).limit(batchSize).for('update', { skipLocked: true }),
          ),
        )
        .returning();
      if (taken.length === 0) return null;
      // Ids are time-ordered: the chain lists rows in the order they were recorded.
      taken.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const cursor = createChainCursor(chainId, opts.key, start);
      const rows: AuditRow[] = taken.map((r) => ({ id: r.id, ...cursor.next(contentOf(r)) }));
      await insertRows(tx, rows, { skipWritten: false });
      return { rows, end: cursor.position };
    });
    if (!sealed) return 0;
    position = sealed.end;
    opts.onCommitted?.(sealed.rows);
    return sealed.rows.length;
  }

  return {
    chainId,
    async insert(tx, id, content) {
      await tx.insert(auditOutbox).values({ id, ...content, at: new Date(content.at) });
    },
    kick,
    async flush() {
      // Rows committed before now have ids up to the newest one visible now; waiting for those
      // only, a flush under steady traffic still ends.
      const [newest] = await db.select({ id: auditOutbox.id }).from(auditOutbox).orderBy(desc(auditOutbox.id)).limit(1);
      for (;;) {
        await running;
        if (!newest || closed) return;
        const [left] = await db.select({ id: auditOutbox.id }).from(auditOutbox).where(lte(auditOutbox.id, newest.id)).limit(1);
        if (!left) return;
        kick();
        await running;
        // Rows another process is sealing stay locked (and skipped) until it commits: look again shortly.
        await new Promise((r) => setTimeout(r, failures > 0 ? backoff() : 5));
      }
    },
    async close(timeoutMs = 10_000) {
      clearInterval(poll);
      const done = this.flush();
      await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      closed = true;
      if (soon) clearTimeout(soon);
      await Promise.race([running?.catch(() => {}), new Promise((r) => setTimeout(r, 1_000).unref())]);
    },
  };
}

async function chainHead(db: Database, chainId: string): Promise<{ seq: number; hash: string }> {
  const [chain] = await db.select({ seq: auditChains.headSeq, hash: auditChains.headHash }).from(auditChains).where(eq(auditChains.chainId, chainId));
  return chain ?? { seq: 0, hash: GENESIS_HASH };
}

function contentOf(r: AuditOutboxRow): ChainedContent {
  return {
    at: r.at.toISOString(),
    actorType: r.actorType,
    actorId: r.actorId,
    action: r.action,
    outcome: r.outcome,
    severity: r.severity,
    resourceType: r.resourceType,
    resourceId: r.resourceId,
    ip: r.ip,
    userAgent: r.userAgent,
    requestId: r.requestId,
    details: r.details,
  };
}
