import type { Database, Queryable, Tx } from '@tapevision/db';
import type { Clock } from '../deps.ts';
import { severityOf, type AuditAction } from './actions.ts';
import type { ChainedContent } from './chain.ts';
import { redactSecrets } from './redact.ts';
import { createRowIdSource } from './row-id.ts';
import type { AuditSealer } from './sealer.ts';
import type { AuditWriter } from './writer.ts';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditActor {
  type: 'user' | 'apikey' | 'bot' | 'system' | 'anonymous';
  id?: string | null;
}

/** Where a request came from; every audited row carries it. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface AuditEvent {
  action: AuditAction;
  outcome: AuditOutcome;
  actor: AuditActor;
  origin: RequestOrigin;
  resource?: { type: string; id?: string | null };
  details?: Record<string, unknown>;
}

export interface AuditRecorder {
  /**
   * Files an event that changed nothing (a failed sign-in, a denial, a read). LOW and MEDIUM
   * events are queued and the promise resolves at once (a crash loses those not yet written: up
   * to AUDIT_FLUSH_MS of them plus the INSERTs under way; while the database refuses rows, they are
   * in the spool file before it resolves); HIGH and CRITICAL ones resolve only once written (to the
   * database, or durably to the spool).
   */
  record(event: AuditEvent): Promise<void>;
  /**
   * Files the event of a state change inside the transaction that makes the change: the row
   * commits, or rolls back, with it. Run the transaction through `auditedTransaction` so the row
   * is chained right after the commit.
   */
  recordIn(tx: Queryable, event: AuditEvent): Promise<void>;
  /** A transaction that may have recorded rows ended: chain them now rather than at the next poll. */
  committed(): void;
  /** Writes everything queued and chains every row committed so far; resolves when it is in the log. */
  flush(): Promise<void>;
  /** Flushes (for at most `timeoutMs`; what is left stays in the spool) and stops: shutdown. */
  close(timeoutMs?: number): Promise<void>;
}

/** What the table holds per event, before it is chained. */
export function auditContent(event: AuditEvent, at: Date): ChainedContent {
  return {
    at: at.toISOString(),
    actorType: event.actor.type,
    actorId: clean(event.actor.id ?? null),
    action: event.action,
    outcome: event.outcome,
    severity: severityOf(event.action),
    resourceType: clean(event.resource?.type ?? null),
    resourceId: clean(event.resource?.id ?? null),
    ip: clean(event.origin.ip),
    userAgent: clean(event.origin.userAgent?.slice(0, 512) ?? null),
    requestId: clean(event.origin.requestId?.slice(0, 128) ?? null),
    details: cleanJson(redactSecrets(event.details ?? {})),
  };
}

export function createAuditRecorder(writer: AuditWriter, sealer: AuditSealer, clock: Clock): AuditRecorder {
  const nextRowId = createRowIdSource();
  return {
    record(event) {
      const content = auditContent(event, clock.now());
      const severity = content.severity;
      return writer.append(content, severity === 'HIGH' || severity === 'CRITICAL');
    },
    recordIn: (tx, event) => sealer.insert(tx, nextRowId(), auditContent(event, clock.now())),
    committed: () => sealer.kick(),
    async flush() {
      await writer.flush();
      await sealer.flush();
    },
    async close(timeoutMs) {
      const started = Date.now();
      await sealer.close(timeoutMs);
      await writer.close(timeoutMs === undefined ? undefined : Math.max(1_000, timeoutMs - (Date.now() - started)));
    },
  };
}

/**
 * One transaction whose audit rows (`deps.audit.recordIn(tx, …)`) commit with the change and are
 * chained right after the commit, without the caller waiting for that.
 */
export async function auditedTransaction<T>(deps: { db: Database; audit: AuditRecorder }, fn: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await deps.db.transaction(fn);
  } finally {
    deps.audit.committed();
  }
}

// Postgres text and jsonb refuse NUL characters and lone surrogates; a row carrying one would
// never be written.
const UNWRITABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function clean(value: string | null): string | null {
  return value === null ? null : value.replace(UNWRITABLE, '');
}

// As jsonb will store it: NULs gone, and what JSON cannot hold (undefined, functions) dropped, so
// the hash computed now matches the row read back later.
function cleanJson(value: unknown): Record<string, unknown> {
  const text = JSON.stringify(value) ?? '{}';
  // JSON.stringify escapes NULs and lone surrogates, so the text tells whether any is there: the
  // common case skips the slower pass that removes them.
  if (!/\\u0000|\\ud[89a-f]/i.test(text)) return JSON.parse(text) as Record<string, unknown>;
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? clean(v) : v)) ?? '{}') as Record<string, unknown>;
}
