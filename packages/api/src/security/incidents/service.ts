import { and, asc, desc, eq, gte, inArray, lte, or, sql, type SQL } from 'drizzle-orm';
import { apiKeys, auditLogs, incidents, incidentTimeline, users, type Incident, type Queryable, type Tx } from '@tapevision/db';
import { auditedTransaction, type AuditEvent, type RequestOrigin } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import { appError } from '../../errors.ts';
import type { IncidentsListInput, IncidentUpdateInput } from './schemas.ts';
import {
  appendTimeline,
  lockIncidents,
  publishIncidentEvent,
  STATUS_ORDER,
  toIncidentView,
  toTimelineView,
  type IncidentView,
  type NewTimelineEntry,
  type TimelineView,
} from './store.ts';

export interface IncidentActor {
  userId: string;
  origin: RequestOrigin;
}

type Deps = Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'audit'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = () => appError('NOT_FOUND', 'No such incident', { reason: 'INCIDENT_NOT_FOUND' });

// ---------------------------------------------------------------------------------------------
// incidents.list: newest first by (detected_at, id), keyset cursor

function encodeCursor(row: Incident): string {
  return Buffer.from(JSON.stringify([row.detectedAt.toISOString(), row.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const invalid = () => appError('BAD_REQUEST', 'Invalid cursor', { reason: 'INVALID_CURSOR' });
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || typeof id !== 'string' || !UUID.test(id)) throw invalid();
  const time = new Date(at);
  if (Number.isNaN(time.getTime()) || time.toISOString() !== at) throw invalid();
  return { at, id };
}

export async function listIncidents(deps: Pick<ApiDeps, 'db'>, input: IncidentsListInput): Promise<{ items: IncidentView[]; nextCursor: string | null }> {
  const limit = input?.limit ?? 50;
  const conditions: SQL[] = [];
  if (input?.status) conditions.push(eq(incidents.status, input.status));
  if (input?.severity) conditions.push(eq(incidents.severity, input.severity));
  if (input?.cursor) {
    const p = decodeCursor(input.cursor);
    conditions.push(sql`(${incidents.detectedAt}, ${incidents.id}) < (${p.at}::timestamptz, ${p.id}::uuid)`);
  }
  const rows = await deps.db
    .select()
    .from(incidents)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(incidents.detectedAt), desc(incidents.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { items: page.map(toIncidentView), nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null };
}

// ---------------------------------------------------------------------------------------------
// incidents.get

export interface IncidentDetail {
  incident: IncidentView;
  timeline: TimelineView[];
  affected: { users: { id: string; email: string | null }[]; apiKeys: { id: string; name: string | null; userId: string | null }[]; ips: string[] };
  assignee: { id: string; email: string | null } | null;
}

async function emailsOf(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const valid = [...new Set(ids.filter((id) => UUID.test(id)))];
  if (valid.length === 0) return new Map();
  const rows = await db.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, valid));
  return new Map(rows.map((r) => [r.id, r.email]));
}

async function requireIncident(db: Queryable, id: string): Promise<Incident> {
  const [row] = await db.select().from(incidents).where(eq(incidents.id, id));
  if (!row) throw notFound();
  return row;
}

export async function getIncident(deps: Pick<ApiDeps, 'db'>, id: string): Promise<IncidentDetail> {
  const incident = await requireIncident(deps.db, id);
  const timeline = await deps.db.select().from(incidentTimeline).where(eq(incidentTimeline.incidentId, id)).orderBy(asc(incidentTimeline.id));
  const emails = await emailsOf(deps.db, [...incident.userIds, ...(incident.assigneeId ? [incident.assigneeId] : []), ...timeline.flatMap((t) => (t.actorId ? [t.actorId] : []))]);
  const keyIds = incident.apiKeyIds.filter((k) => UUID.test(k));
  const keys = keyIds.length ? await deps.db.select({ id: apiKeys.id, name: apiKeys.name, userId: apiKeys.userId }).from(apiKeys).where(inArray(apiKeys.id, keyIds)) : [];
  const keyById = new Map(keys.map((k) => [k.id, k]));
  return {
    incident: toIncidentView(incident),
    timeline: timeline.map((t) => toTimelineView(t, emails)),
    affected: {
      users: incident.userIds.map((u) => ({ id: u, email: emails.get(u) ?? null })),
      apiKeys: incident.apiKeyIds.map((k) => ({ id: k, name: keyById.get(k)?.name ?? null, userId: keyById.get(k)?.userId ?? null })),
      ips: incident.ips,
    },
    assignee: incident.assigneeId ? { id: incident.assigneeId, email: emails.get(incident.assigneeId) ?? null } : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Writes: each under the incidents lock, its audit row and timeline entries in its transaction

async function changeIncident(
  deps: Deps,
  id: string,
  change: (tx: Tx, incident: Incident, now: Date) => Promise<{ set: Partial<Incident>; entries: NewTimelineEntry[]; audit: AuditEvent }>,
): Promise<IncidentView> {
  const { view, eventId } = await auditedTransaction(deps, async (tx) => {
    await lockIncidents(tx);
    const [incident] = await tx.select().from(incidents).where(eq(incidents.id, id)).for('update');
    if (!incident) throw notFound();
    const now = deps.clock.now();
    const { set, entries, audit } = await change(tx, incident, now);
    const [updated] = await tx.update(incidents).set({ ...set, updatedAt: now }).where(eq(incidents.id, id)).returning();
    const eventId = await appendTimeline(tx, id, now, entries);
    await deps.audit.recordIn(tx, audit);
    return { view: toIncidentView(updated as Incident), eventId };
  });
  await publishIncidentEvent(deps.bus, eventId);
  return view;
}

const closedError = () => appError('CONFLICT', 'The incident is closed', { reason: 'INCIDENT_CLOSED' });
const rank = (s: string) => STATUS_ORDER.indexOf(s as (typeof STATUS_ORDER)[number]);

export function updateIncident(deps: Deps, input: IncidentUpdateInput, actor: IncidentActor): Promise<IncidentView> {
  return changeIncident(deps, input.id, async (tx, incident, now) => {
    if (incident.status === 'closed') throw closedError();
    const set: Partial<Incident> = {};
    const entries: NewTimelineEntry[] = [];
    const who = { type: 'user' as const, id: actor.userId };
    const changes: Record<string, unknown> = {};
    if (input.status !== undefined && input.status !== incident.status) {
      // Forward only: an incident that was contained is never again merely detected.
      if (rank(input.status) < rank(incident.status)) {
        throw appError('BAD_REQUEST', `Status moves forward only (it is ${incident.status})`, { reason: 'INCIDENT_STATUS_BACKWARD' });
      }
      set.status = input.status;
      if (rank(input.status) >= rank('contained') && !incident.containedAt) set.containedAt = now;
      if (input.status === 'resolved') set.resolvedAt = now;
      entries.push({ kind: 'status', actor: who, message: `Status ${incident.status} → ${input.status}`, details: { from: incident.status, to: input.status } });
      changes.status = { from: incident.status, to: input.status };
    }
    if (input.severity !== undefined && input.severity !== incident.severity) {
      set.severity = input.severity;
      entries.push({ kind: 'severity', actor: who, message: `Severity ${incident.severity} → ${input.severity}`, details: { from: incident.severity, to: input.severity } });
      changes.severity = { from: incident.severity, to: input.severity };
    }
    if (input.assignee !== undefined && input.assignee !== incident.assigneeId) {
      if (input.assignee !== null) {
        const [admin] = await tx.select({ id: users.id, role: users.role, status: users.status, email: users.email }).from(users).where(eq(users.id, input.assignee));
        if (!admin || admin.role !== 'admin' || admin.status !== 'active') {
          throw appError('BAD_REQUEST', 'The assignee must be an active admin', { reason: 'INVALID_ASSIGNEE' });
        }
        entries.push({ kind: 'assignment', actor: who, message: `Assigned to ${admin.email}`, details: { assigneeId: admin.id } });
      } else {
        entries.push({ kind: 'assignment', actor: who, message: 'Unassigned', details: { assigneeId: null } });
      }
      set.assigneeId = input.assignee;
      changes.assignee = { from: incident.assigneeId, to: input.assignee };
    }
    if (entries.length === 0) throw appError('BAD_REQUEST', 'Nothing changes', { reason: 'INCIDENT_UNCHANGED' });
    return { set, entries, audit: auditOf('security.incident_updated', actor, incident.id, changes) };
  });
}

export function addIncidentNote(deps: Deps, input: { id: string; note: string }, actor: IncidentActor): Promise<IncidentView> {
  return changeIncident(deps, input.id, async (_tx, incident) => ({
    set: {},
    entries: [{ kind: 'note', actor: { type: 'user', id: actor.userId }, message: input.note }],
    audit: auditOf('security.incident_noted', actor, incident.id, { length: input.note.length }),
  }));
}

export function closeIncident(deps: Deps, input: { id: string; resolution: string }, actor: IncidentActor): Promise<IncidentView> {
  return changeIncident(deps, input.id, async (_tx, incident, now) => {
    if (incident.status === 'closed') throw closedError();
    return {
      set: { status: 'closed', resolution: input.resolution, closedAt: now, resolvedAt: incident.resolvedAt ?? now, containedAt: incident.containedAt ?? now },
      entries: [{ kind: 'closed', actor: { type: 'user', id: actor.userId }, message: `Closed: ${input.resolution}`, details: { from: incident.status } }],
      audit: auditOf('security.incident_closed', actor, incident.id, { from: incident.status, resolution: input.resolution }),
    };
  });
}

function auditOf(action: AuditEvent['action'], actor: IncidentActor, id: string, details: Record<string, unknown>): AuditEvent {
  return { action, outcome: 'success', actor: { type: 'user', id: actor.userId }, origin: actor.origin, resource: { type: 'incident', id }, details };
}

// ---------------------------------------------------------------------------------------------
// incidents.report: the story from the audit trail

/** Most audit rows a report carries; it says when there were more. */
const REPORT_AUDIT_LIMIT = 1_000;

export interface IncidentReport extends IncidentDetail {
  from: string;
  to: string;
  durationMs: number;
  /** The audit rows of the incident's IPs and accounts over its span, and the incident's own, oldest first. */
  auditTrail: { id: string; at: string; action: string; outcome: string; severity: string; actorType: string; actorId: string | null; actorEmail: string | null; ip: string | null; resourceType: string | null; resourceId: string | null; details: Record<string, unknown> }[];
  auditTruncated: boolean;
  actionCounts: Record<string, number>;
}

export async function incidentReport(deps: Pick<ApiDeps, 'db' | 'clock' | 'audit'>, id: string, actor: IncidentActor): Promise<IncidentReport> {
  const detail = await getIncident(deps, id);
  const inc = detail.incident;
  const from = new Date(inc.detectedAt);
  const firstTimeline = detail.timeline[0];
  // The span starts a little before the first detection: the rule counted events before it fired.
  const windowStart = new Date(Math.min(from.getTime(), firstTimeline ? new Date(firstTimeline.at).getTime() : from.getTime()) - 15 * 60_000);
  const to = new Date(inc.closedAt ?? inc.resolvedAt ?? deps.clock.now().toISOString());
  const principals = [...inc.userIds, ...inc.apiKeyIds];
  const related: SQL[] = [and(eq(auditLogs.resourceType, 'incident'), eq(auditLogs.resourceId, inc.id))!];
  if (inc.ips.length) related.push(inArray(auditLogs.ip, inc.ips));
  if (principals.length) related.push(inArray(auditLogs.actorId, principals), and(eq(auditLogs.resourceType, 'user'), inArray(auditLogs.resourceId, principals))!);
  const rows = await deps.db
    .select()
    .from(auditLogs)
    .where(
      and(
        gte(auditLogs.at, windowStart),
        lte(auditLogs.at, new Date(to.getTime() + 1_000)),
        or(...related),
        // Another incident's rows are that incident's story, even from the same address (the officer's own desk).
        sql`not (${auditLogs.resourceType} is not distinct from 'incident' and ${auditLogs.resourceId} is distinct from ${inc.id})`,
      ),
    )
    .orderBy(asc(auditLogs.at), asc(auditLogs.seq))
    .limit(REPORT_AUDIT_LIMIT + 1);
  const trail = rows.slice(0, REPORT_AUDIT_LIMIT);
  const emails = await emailsOf(deps.db, trail.flatMap((r) => (r.actorId ? [r.actorId] : [])));
  const actionCounts: Record<string, number> = {};
  for (const r of trail) actionCounts[r.action] = (actionCounts[r.action] ?? 0) + 1;
  await deps.audit.record({ action: 'security.incident_report_viewed', outcome: 'success', actor: { type: 'user', id: actor.userId }, origin: actor.origin, resource: { type: 'incident', id } });
  return {
    ...detail,
    from: from.toISOString(),
    to: to.toISOString(),
    durationMs: Math.max(0, to.getTime() - from.getTime()),
    auditTrail: trail.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      action: r.action,
      outcome: r.outcome,
      severity: r.severity,
      actorType: r.actorType,
      actorId: r.actorId,
      actorEmail: r.actorId ? (emails.get(r.actorId) ?? null) : null,
      ip: r.ip,
      resourceType: r.resourceType,
      resourceId: r.resourceId,
      details: r.details,
    })),
    auditTruncated: rows.length > REPORT_AUDIT_LIMIT,
    actionCounts,
  };
}
