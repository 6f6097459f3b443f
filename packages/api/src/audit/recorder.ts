import { auditLogs, type Database } from '@tapevision/db';
import type { Logger } from 'pino';
import { severityOf, type AuditAction } from './actions.ts';
import { redactSecrets } from './redact.ts';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditActor {
  type: 'user' | 'apikey' | 'system' | 'anonymous';
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
  record(event: AuditEvent): Promise<void>;
}

export function createAuditRecorder(db: Database, logger: Logger): AuditRecorder {
  return {
    async record(event) {
      const row = {
        actorType: event.actor.type,
        actorId: event.actor.id ?? null,
        action: event.action,
        outcome: event.outcome,
        severity: severityOf(event.action),
        resourceType: event.resource?.type ?? null,
        resourceId: event.resource?.id ?? null,
        ip: event.origin.ip,
        userAgent: event.origin.userAgent?.slice(0, 512) ?? null,
        requestId: event.origin.requestId,
        details: redactSecrets(event.details ?? {}),
      };
      try {
        await db.insert(auditLogs).values(row);
      } catch (err) {
        // The request must still answer; the row goes to the log so it is not lost silently.
        logger.error({ err, audit: row }, 'audit write failed');
      }
    },
  };
}
