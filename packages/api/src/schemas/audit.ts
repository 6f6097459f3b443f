import { z } from 'zod';
import { text } from './text.ts';
import { AUDIT_SEVERITY, type AuditAction, type Severity } from '../audit/actions.ts';

export const AUDIT_ACTIONS = Object.keys(AUDIT_SEVERITY) as [AuditAction, ...AuditAction[]];
export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const satisfies readonly Severity[];
export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export const ACTOR_TYPES = ['user', 'apikey', 'bot', 'system', 'anonymous'] as const;

const isoTime = z.iso.datetime({ offset: true });
const shortText = text().trim().min(1).max(200);

/** The filters audit.list, audit.export and audit.onEvent share; every one optional. */
export const auditFilterShape = {
  /** Inclusive lower bound on the row's time. */
  from: isoTime.optional(),
  /** Exclusive upper bound. */
  to: isoTime.optional(),
  /** The acting user's or API key's id. */
  actor: shortText.optional(),
  actorType: z.enum(ACTOR_TYPES).optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  /** Exactly this severity. */
  severity: z.enum(SEVERITIES).optional(),
  /** This severity or worse. */
  minSeverity: z.enum(SEVERITIES).optional(),
  ip: text().trim().min(1).max(64).optional(),
  resourceType: shortText.optional(),
  resourceId: shortText.optional(),
};

export const auditFilterInput = z.strictObject(auditFilterShape);

/** The filter fields, in the order a filter bar shows them. */
export const AUDIT_FILTER_KEYS = Object.keys(auditFilterShape) as (keyof typeof auditFilterShape)[];

export const auditListInput = z.strictObject({
  ...auditFilterShape,
  /** nextCursor of the previous page. */
  cursor: text().max(200).optional(),
  limit: z.number().int().min(1).max(500).optional(),
  /** Sent by tRPC's useInfiniteQuery; pages always run newest first, so it is accepted and ignored. */
  direction: z.enum(['forward', 'backward']).optional(),
});

export const AUDIT_EXPORT_MAX_ROWS = 1_000_000;

export const auditExportInput = z.strictObject({
  ...auditFilterShape,
  format: z.enum(['ndjson', 'csv']),
  /** Rows at most (newest first); defaults to the maximum. */
  limit: z.number().int().min(1).max(AUDIT_EXPORT_MAX_ROWS).optional(),
});

export const auditTailInput = z.strictObject({
  ...auditFilterShape,
  /** Resume after this row id (tRPC sets it from the last tracked event on reconnect). */
  lastEventId: text().max(100).nullish(),
});

export const auditVerifyInput = z
  .strictObject({ from: isoTime.optional(), to: isoTime.optional() })
  .refine((v) => !v.from || !v.to || v.from <= v.to, { message: '"from" must not be after "to"', path: ['from'] });

/** At most a year per report: the queries are aggregated in SQL, but bounded all the same. */
export const REPORT_MAX_DAYS = 366;

export const securityReportInput = z
  .strictObject({ from: isoTime, to: isoTime })
  .refine((v) => new Date(v.from) < new Date(v.to), { message: '"from" must be before "to"', path: ['from'] })
  .refine((v) => new Date(v.to).getTime() - new Date(v.from).getTime() <= REPORT_MAX_DAYS * 86_400_000, {
    message: `At most ${REPORT_MAX_DAYS} days per report`,
    path: ['to'],
  });

/** One audit row as the API shows it. */
export interface AuditEntry {
  id: string;
  at: string;
  actorType: string;
  actorId: string | null;
  action: string;
  outcome: string;
  severity: string;
  resourceType: string | null;
  resourceId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** The actor's email (a user) or key name and owner (an API key), as they are now; list and tail only, absent when unknown. */
  actorName?: string;
  /** The same for a resource that is a user or an API key. */
  resourceName?: string;
}

export interface AuditPage {
  items: AuditEntry[];
  nextCursor: string | null;
}

export interface SecurityReport {
  from: string;
  to: string;
  /** Every action in the range: how often, by how many users, from how many IPs. */
  actions: { action: string; count: number; distinctUsers: number; distinctIps: number }[];
  /** IPs with more than 10 failed logins. */
  failedLoginIps: { ip: string; failures: number; distinctAccounts: number; lastAt: string }[];
  /** Users with more than 5 destructive actions (deletes, exports, revocations). */
  destructiveUsers: { userId: string; email: string | null; count: number; actions: Record<string, number> }[];
  lockouts: { at: string; userId: string | null; email: string | null; ip: string | null }[];
  refreshReuse: { at: string; userId: string | null; email: string | null; sessionId: string | null; ip: string | null }[];
  /** Rate-limit denials by principal (user, API key or IP). */
  rateLimitDenials: { principal: string; actorType: string; denials: number; lastAt: string }[];
  /** Rows per day, split by outcome: the chart's time axis. */
  perDay: { day: string; success: number; failure: number; denied: number }[];
}

export type AuditFilter = z.infer<typeof auditFilterInput>;
export type AuditListInput = z.infer<typeof auditListInput>;
export type AuditExportInput = z.infer<typeof auditExportInput>;
