import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { detachedFromRequest, type Database, type Queryable } from '@tapevision/db';
import type { Logger } from 'pino';
import { createChainCursor, GENESIS_HASH, type ChainedContent, type ChainedRow } from './chain.ts';
import type { SigningKey } from './keys.ts';
import { createRowIdSource } from './row-id.ts';
import { openSpool, type Spool } from './spool.ts';

/** A chained row as it is queued, spooled and inserted. */
export interface AuditRow extends ChainedRow {
  id: string;
}

export interface AuditWriterOptions {
  db: Database;
  logger: Logger;
  /** The audit key (AUDIT_KEY's first entry) every row of this writer's chain is signed with. */
  key: SigningKey;
  /** Where rows go while the database refuses them (DATA_DIR/audit-spool). */
  spoolDir: string;
  /** Flush once this many rows are queued... */
  batchSize?: number;
  /** ...or this long after the first of them. */
  flushIntervalMs?: number;
  /** Rows held in memory at most; beyond it they are appended to the spool file. */
  maxQueue?: number;
  /** Most rows in one INSERT while catching up on a backlog. */
  maxInsertRows?: number;
  /** How long a HIGH or CRITICAL row waits for the database before it is made durable in the spool. */
  durableTimeoutMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Called after rows are committed (the live tail's feed). */
  onCommitted?: (rows: readonly AuditRow[]) => void;
}

export interface AuditWriterStats {
  queued: number;
  spooling: boolean;
  written: number;
  failures: number;
}

export interface AuditWriter {
  readonly chainId: string;
  /**
   * Chains and queues a row. With `durable` the promise resolves once the row is in the database
   * or fsynced to the spool; otherwise at once.
   */
  append(content: ChainedContent, durable: boolean): Promise<void>;
  /** Writes everything queued or spooled so far; resolves when it is in the database. */
  flush(): Promise<void>;
  stats(): AuditWriterStats;
  /** Flushes (giving up after `timeoutMs`, leaving the rest in the spool) and stops. */
  close(timeoutMs?: number): Promise<void>;
}

interface Pending {
  row: AuditRow;
  resolve?: (() => void) | undefined;
  reject?: ((err: Error) => void) | undefined;
}

// Postgres answers a bad value with class 22 (data exception) or 23 (integrity) errors: such a row
// will never go in, so retrying it forever would block every row behind it.
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

export function createAuditWriter(opts: AuditWriterOptions): AuditWriter {
  const batchSize = opts.batchSize ?? 100;
  const flushIntervalMs = opts.flushIntervalMs ?? 250;
  const maxQueue = opts.maxQueue ?? 10_000;
  const maxInsertRows = opts.maxInsertRows ?? 2_000;
  const durableTimeoutMs = opts.durableTimeoutMs ?? 2_000;
  const retryInitialMs = opts.retryInitialMs ?? 100;
  const retryMaxMs = opts.retryMaxMs ?? 5_000;
  const { db, logger } = opts;

  const chainId = randomUUID();
  const cursor = createChainCursor(chainId, opts.key);
  const nextRowId = createRowIdSource();
  const spool: Spool = openSpool(opts.spoolDir, chainId);
  let queue: Pending[] = [];
  // Once rows go to the spool, all later ones follow them there until it is drained: order per chain holds.
  let spooling = spool.hasActive();
  let orphans = spool.takeFiles();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let failures = 0;
  let written = 0;
  let closed = false;

  function schedule(delayMs: number) {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      kick();
    }, delayMs);
    timer.unref();
  }

  // A request only starts a drain; the drain is the writer's own, so it goes on (and is not refused
  // by the database guard) when that request is answered or its client hangs up.
  const drainDetached = detachedFromRequest(() => drain());

  function kick(): Promise<void> {
    running ??= drainDetached().finally(() => {
      running = null;
      if (hasWork()) schedule(failures ? backoff() : flushIntervalMs);
    });
    return running;
  }

  const hasWork = () => queue.length > 0 || spooling || orphans.length > 0;
  const backoff = () => Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(failures - 1, 16)) * (0.75 + Math.random() * 0.5);

  async function drain(): Promise<void> {
    try {
      for (;;) {
        if (spooling || orphans.length > 0) {
          // Spooled rows are older than any queued in memory, so they go first. Taking the active
          // file ends spooling at once: rows from now on queue in memory behind these files, which
          // keeps each chain's commit order even under steady traffic.
          const files = [...orphans.splice(0), ...spool.takeFiles()];
          spooling = false;
          for (let i = 0; i < files.length; i++) {
            try {
              for await (const rows of spool.read<AuditRow>(files[i]!, maxInsertRows)) await insert(rows);
            } catch (err) {
              orphans.unshift(...files.slice(i));
              throw err;
            }
            spool.done(files[i]!);
          }
          continue;
        }
        if (queue.length === 0) break;
        const batch = queue.slice(0, maxInsertRows);
        await insert(batch.map((p) => p.row));
        // A durable timeout may have moved the queue to the spool meanwhile; those rows are then
        // in both places, and the spool's copy is skipped as a duplicate when it drains.
        if (queue[0] === batch[0]) queue.splice(0, batch.length);
        for (const p of batch) p.resolve?.();
      }
      failures = 0;
    } catch (err) {
      failures += 1;
      if (failures === 1 || failures % 20 === 0) logger.error({ err, failures, queued: queue.length }, 'audit write failed; rows kept and retried');
      // Rows the database refused go to the spool now, not after AUDIT_MAX_QUEUE more: a process
      // killed during an outage must not take confirmed rows with it (written is enough for a kill;
      // fsync only for rows whose request waits on durability).
      spill(queue.some((p) => p.resolve));
    }
  }

  async function insert(rows: readonly AuditRow[]): Promise<void> {
    try {
      await insertRows(db, rows);
    } catch (err) {
      if (!isRowError(err)) throw err;
      // One bad row must not hold back the rest: write one by one, set the rejected ones aside.
      for (const row of rows) {
        try {
          await insertRows(db, [row]);
        } catch (rowErr) {
          if (!isRowError(rowErr)) throw rowErr;
          logger.error({ err: rowErr, chainId: row.chainId, seq: row.seq }, 'audit row rejected by the database; kept in the spool directory');
          spool.reject(row);
        }
      }
    }
    written += rows.length;
    opts.onCommitted?.(rows);
  }

  // Moves every queued row to the spool file, in order, and releases the requests waiting on them.
  // Should the disk refuse too, the rows stay queued in memory (past the bound: nothing is
  // dropped) and the requests waiting for durability fail rather than the process.
  function spill(sync: boolean) {
    if (queue.length === 0) return;
    const moved = queue;
    try {
      spool.append(
        moved.map((p) => p.row),
        sync,
      );
    } catch (err) {
      logger.error({ err, queued: queue.length }, 'audit spool write failed; rows kept in memory');
      for (const p of moved) p.reject?.(new Error('audit log unavailable'));
      return;
    }
    queue = [];
    spooling = true;
    for (const p of moved) p.resolve?.();
  }

  return {
    chainId,
    append(content, durable) {
      if (closed) throw new Error('audit writer is closed');
      // Time-ordered ids: each insert lands at the right edge of the primary key's index instead of
      // on a random page, so the writer does not slow down as the table grows (bench/README.md).
      const row: AuditRow = { id: nextRowId(), ...cursor.next(content) };
      if (spooling) {
        try {
          spool.append([row], durable);
        } catch (err) {
          // The disk refuses: keep the row in memory, in order behind the spool, and retry both.
          logger.error({ err }, 'audit spool write failed; row kept in memory');
          queue.push({ row });
          if (durable) return Promise.reject(new Error('audit log unavailable'));
        }
        schedule(flushIntervalMs);
        return Promise.resolve();
      }
      // While the database is failing, new rows wait for the backoff timer instead of each
      // starting a retry of its own, and they wait on disk: a retry that is under way (it took the
      // spool's files) must not leave the rows recorded meanwhile only in memory.
      const healthy = failures === 0;
      if (!durable) {
        queue.push({ row });
        if (!healthy || queue.length > maxQueue) spill(false);
        if (queue.length >= batchSize && healthy) void kick();
        else schedule(flushIntervalMs);
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const pending: Pending = { row };
        const settle = (outcome: () => void) => {
          clearTimeout(deadline);
          pending.resolve = undefined;
          pending.reject = undefined;
          outcome();
        };
        const deadline = setTimeout(() => {
          if (pending.resolve && queue.includes(pending)) spill(true);
        }, durableTimeoutMs);
        deadline.unref();
        pending.resolve = () => settle(resolve);
        pending.reject = (err) => settle(() => reject(err));
        queue.push(pending);
        // The database is failing: make the row durable in the spool now rather than after the deadline.
        if (!healthy) spill(true);
        else void kick();
      });
    },
    async flush() {
      // A drain under way may hold rows it took from the spool (no longer "work" by hasWork): wait for it too.
      while ((hasWork() || running) && !closed) {
        if (timer) {
          clearTimeout(timer);
          timer = null;
        }
        const before = failures;
        await kick();
        if (failures > before) await new Promise((r) => setTimeout(r, backoff()));
      }
    },
    stats: () => ({ queued: queue.length, spooling, written, failures }),
    async close(timeoutMs = 10_000) {
      const done = this.flush();
      const gaveUp = await Promise.race([
        done.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref()),
      ]);
      closed = true;
      if (timer) clearTimeout(timer);
      if (gaveUp) {
        // The database is still away: what is queued goes to the spool now, for the next start. An
        // insert still in flight may land too; its rows are then skipped as duplicates later.
        spill(true);
        await Promise.race([running?.catch(() => {}), new Promise((r) => setTimeout(r, 1_000).unref())]);
        logger.error({ chainId }, 'audit log not fully written at shutdown; the rest is in the spool');
      }
      spool.release();
    },
  };
}

/**
 * The rows (a retried row is skipped, not doubled) and the chains' heads moved on, in one
 * statement: atomic without BEGIN/COMMIT, and one round trip, so the database is not left waiting
 * on a busy event loop between the steps of a transaction. The rows travel as one JSON parameter
 * unpacked by json_to_recordset: several times faster than a VALUES list of 17 parameters a row,
 * and never near the protocol's 65,535-parameter limit. Without `skipWritten` a row already there
 * fails the statement instead (the sealer: it must never drop a row it took from the outbox).
 */
export async function insertRows(db: Queryable, rows: readonly AuditRow[], opts: { skipWritten?: boolean } = {}): Promise<void> {
  const skipWritten = opts.skipWritten ?? true;
  if (rows.length === 0) return;
  const heads = new Map<string, AuditRow>();
  for (const row of rows) {
    const head = heads.get(row.chainId);
    if (!head || head.seq < row.seq) heads.set(row.chainId, row);
  }
  const headRows = [...heads.values()].map((r) => ({ chainId: r.chainId, seq: r.seq, hash: r.hash }));
  await db.execute(sql`
    with written as (
      insert into audit_logs (id, at, actor_type, actor_id, action, outcome, severity, resource_type, resource_id,
                              ip, user_agent, request_id, details, chain_id, seq, prev_hash, hash, key_id)
      select id, at, "actorType", "actorId", action, outcome, severity, "resourceType", "resourceId",
             ip, "userAgent", "requestId", details, "chainId", seq, "prevHash", hash, "keyId"
      from json_to_recordset(${JSON.stringify(rows)}::json) as r(
        id uuid, at timestamptz, "actorType" text, "actorId" text, action text, outcome text, severity text,
        "resourceType" text, "resourceId" text, ip text, "userAgent" text, "requestId" text, details jsonb,
        "chainId" text, seq bigint, "prevHash" text, hash text, "keyId" text)
      ${skipWritten ? sql`on conflict (chain_id, seq) do nothing` : sql``}
      returning 1
    )
    insert into audit_chains (chain_id, anchor_hash, head_seq, head_hash)
    select "chainId", ${GENESIS_HASH}, seq, hash
    from json_to_recordset(${JSON.stringify(headRows)}::json) as h("chainId" text, seq bigint, hash text)
    on conflict (chain_id) do update set head_seq = excluded.head_seq, head_hash = excluded.head_hash, updated_at = now()
    where audit_chains.head_seq < excluded.head_seq`);
}
