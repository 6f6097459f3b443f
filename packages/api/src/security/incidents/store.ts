import { sql } from 'drizzle-orm';
import { incidentTimeline, type EventBus, type Incident, type IncidentTimelineEntry, type IncidentTimelineKind, type Tx } from '@tapevision/db';
import type { SecuritySeverity } from '../response.ts';
import { SEVERITIES, type IncidentStatus } from './schemas.ts';

/** Carries only the newest timeline entry's id: subscribers read the rows themselves, in id order. */
export const INCIDENT_EVENTS_CHANNEL = 'tv_incident_events';

// Every incident write takes it first, on any process: parallel reports of one attack queue up
// and the second finds the first's incident, and timeline ids are handed out in commit order.
const INCIDENTS_LOCK = 7_401_236_151;

export { OPEN_STATUSES, SEVERITIES, STATUS_ORDER, type IncidentStatus } from './schemas.ts';

export function severityRank(s: SecuritySeverity): number {
  return SEVERITIES.indexOf(s);
}

export async function lockIncidents(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${INCIDENTS_LOCK})`);
}

export interface NewTimelineEntry {
  kind: IncidentTimelineKind;
  actor: { type: 'system' } | { type: 'user'; id: string };
  message: string;
  details?: Record<string, unknown>;
}

/** Appends entries inside a transaction that took lockIncidents; publish the returned id after commit. */
export async function appendTimeline(tx: Tx, incidentId: string, at: Date, entries: NewTimelineEntry[]): Promise<bigint | null> {
  if (entries.length === 0) return null;
  const rows = await tx
    .insert(incidentTimeline)
    .values(
      entries.map((e) => ({
        incidentId,
        at,
        kind: e.kind,
        actorType: e.actor.type,
        actorId: e.actor.type === 'user' ? e.actor.id : null,
        message: e.message,
        details: e.details ?? {},
      })),
    )
    .returning({ id: incidentTimeline.id });
  return rows.reduce<bigint | null>((max, r) => (max === null || r.id > max ? r.id : max), null);
}

export async function publishIncidentEvent(bus: EventBus, id: bigint | null): Promise<void> {
  if (id !== null) await bus.publish(INCIDENT_EVENTS_CHANNEL, { id: id.toString() });
}

export interface IncidentView {
  id: string;
  type: string;
  severity: SecuritySeverity;
  status: IncidentStatus;
  title: string;
  summary: string;
  correlationKey: string;
  ips: string[];
  userIds: string[];
  apiKeyIds: string[];
  assigneeId: string | null;
  detectionCount: number;
  resolution: string | null;
  detectedAt: string;
  lastDetectionAt: string;
  updatedAt: string;
  containedAt: string | null;
  resolvedAt: string | null;
  closedAt: string | null;
}

export interface TimelineView {
  id: string;
  at: string;
  kind: IncidentTimelineKind;
  actorType: 'system' | 'user';
  actorId: string | null;
  /** The acting user's email, when a person acted. */
  actorEmail: string | null;
  message: string;
  details: Record<string, unknown>;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toIncidentView(row: Incident): IncidentView {
  return {
    id: row.id,
    type: row.type,
    severity: row.severity,
    status: row.status,
    title: row.title,
    summary: row.summary,
    correlationKey: row.correlationKey,
    ips: row.ips,
    userIds: row.userIds,
    apiKeyIds: row.apiKeyIds,
    assigneeId: row.assigneeId,
    detectionCount: row.detectionCount,
    resolution: row.resolution,
    detectedAt: row.detectedAt.toISOString(),
    lastDetectionAt: row.lastDetectionAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    containedAt: iso(row.containedAt),
    resolvedAt: iso(row.resolvedAt),
    closedAt: iso(row.closedAt),
  };
}

export function toTimelineView(row: IncidentTimelineEntry, emails: Map<string, string>): TimelineView {
  return {
    id: row.id.toString(),
    at: row.at.toISOString(),
    kind: row.kind,
    actorType: row.actorType,
    actorId: row.actorId,
    actorEmail: row.actorId ? (emails.get(row.actorId) ?? null) : null,
    message: row.message,
    details: row.details,
  };
}
