import type { EventBus } from '@tapevision/db';
import type { Logger } from 'pino';
import type { AuditRow } from './writer.ts';

export const AUDIT_COMMITTED_CHANNEL = 'audit_committed';

/** Which rows just went in: a range per chain, small enough for NOTIFY's payload limit. */
export interface AuditCommitted {
  chainId: string;
  fromSeq: number;
  toSeq: number;
}

export function isAuditCommitted(value: unknown): value is AuditCommitted {
  const v = value as Partial<AuditCommitted> | null;
  return typeof v?.chainId === 'string' && typeof v.fromSeq === 'number' && typeof v.toSeq === 'number';
}

/** Tells every process's live tails which rows to read; the rows themselves stay in the table. */
export function publishCommittedAudit(bus: EventBus, rows: readonly AuditRow[], logger: Logger): void {
  const ranges = new Map<string, AuditCommitted>();
  for (const row of rows) {
    const range = ranges.get(row.chainId);
    if (!range) ranges.set(row.chainId, { chainId: row.chainId, fromSeq: row.seq, toSeq: row.seq });
    else {
      range.fromSeq = Math.min(range.fromSeq, row.seq);
      range.toSeq = Math.max(range.toSeq, row.seq);
    }
  }
  for (const range of ranges.values()) {
    bus.publish(AUDIT_COMMITTED_CHANNEL, range).catch((err: unknown) => logger.warn({ err }, 'audit live-tail notify failed'));
  }
}
