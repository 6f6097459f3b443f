import type { Clock } from '../deps.ts';
import { severityOf, type AuditAction } from './actions.ts';
import type { ChainedContent } from './chain.ts';
import { redactSecrets } from './redact.ts';
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
   * Files one event. LOW and MEDIUM events are queued and the promise resolves at once; HIGH and
   * CRITICAL ones resolve only once written (to the database, or durably to the spool).
   */
  record(event: AuditEvent): Promise<void>;
  /** Writes everything queued; resolves when it is in the database. */
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

export function createAuditRecorder(writer: AuditWriter, clock: Clock): AuditRecorder {
  return {
    record(event) {
      const content = auditContent(event, clock.now());
      const severity = content.severity;
      return writer.append(content, severity === 'HIGH' || severity === 'CRITICAL');
    },
    flush: () => writer.flush(),
    close: (timeoutMs) => writer.close(timeoutMs),
  };
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
