import { and, asc, desc, eq, gte, inArray, or, sql, type SQL } from 'drizzle-orm';
import { incidents, incidentTimeline, type Incident, type Tx } from '@tapevision/db';
import { auditedTransaction } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import type { Detection, SecurityResponse } from '../response.ts';
import { planResponse, type PlannedAction } from './response-plan.ts';
import { isAllowlisted } from '../blocks/service.ts';
import { appendTimeline, lockIncidents, OPEN_STATUSES, publishIncidentEvent, severityRank, type NewTimelineEntry } from './store.ts';

export interface IncidentResponseOptions {
  /** Detections this close to an open incident's last one join it (INCIDENT_CORRELATION_MINUTES). */
  correlationWindowMs: number;
  /** INCIDENT_AUTO_LOCKDOWN=1: a CRITICAL engages lockdown instead of recommending it. */
  autoLockdown: boolean;
}

type Deps = Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'audit' | 'logger' | 'securityResponse' | 'config'>;

const SYSTEM = { type: 'system' } as const;
const ORIGIN = { ip: null, userAgent: null, requestId: null };

interface Correlated {
  incident: Incident;
  opened: boolean;
  escalatedFrom: Incident['severity'] | null;
  /** The actions this detection claimed under the lock; the rest were already in force. */
  plan: { step: PlannedAction; skip: boolean }[];
}

/**
 * Opens an incident for a detection, or joins the open one it belongs to, then runs the automated
 * response once that has committed. Called by detection off the request path.
 */
export async function reportDetection(deps: Deps, opts: IncidentResponseOptions, detection: Detection): Promise<{ incidentId: string | null }> {
  const { incident, opened, escalatedFrom, plan } = await correlate(deps, opts, detection);
  await respond(deps, incident, detection, plan);
  const port = deps.securityResponse;
  if (opened || escalatedFrom) {
    await safely(deps, 'raiseAlert', () =>
      port.raiseAlert({
        type: opened ? 'incident.opened' : 'incident.escalated',
        severity: incident.severity,
        title: opened ? `Incident opened: ${incident.title}` : `Incident escalated to ${incident.severity}: ${incident.title}`,
        message: detection.summary,
        incidentId: incident.id,
        ip: detection.ip,
        userId: detection.userId,
        details: { rule: detection.rule, correlationKey: detection.correlationKey, ...(escalatedFrom ? { from: escalatedFrom } : {}) },
      }),
    );
  }
  return { incidentId: incident.id };
}

function relatedTo(d: Detection): SQL {
  const related: SQL[] = [eq(incidents.correlationKey, d.correlationKey)];
  if (d.ip) related.push(sql`${d.ip} = any(${incidents.ips})`);
  if (d.userId) related.push(sql`${d.userId} = any(${incidents.userIds})`);
  if (d.apiKeyId) related.push(sql`${d.apiKeyId} = any(${incidents.apiKeyIds})`);
  return or(...related)!;
}

const withValue = (list: string[], value: string | null) => (value && !list.includes(value) ? [...list, value] : list);

async function correlate(deps: Deps, opts: IncidentResponseOptions, d: Detection): Promise<Correlated> {
  const now = deps.clock.now();
  const detectionDetails = { rule: d.rule, severity: d.severity, count: d.count, threshold: d.threshold, windowSeconds: d.windowSeconds, ip: d.ip, userId: d.userId, apiKeyId: d.apiKeyId, correlationKey: d.correlationKey, at: d.at.toISOString(), ...d.details };
  const { result, eventId } = await auditedTransaction(deps, async (tx) => {
    await lockIncidents(tx);
    const [open] = await tx
      .select()
      .from(incidents)
      .where(and(inArray(incidents.status, [...OPEN_STATUSES]), gte(incidents.lastDetectionAt, new Date(d.at.getTime() - opts.correlationWindowMs)), relatedTo(d)))
      .orderBy(desc(incidents.lastDetectionAt))
      .limit(1);
    if (!open) {
      const [incident] = await tx
        .insert(incidents)
        .values({
          type: d.rule,
          severity: d.severity,
          title: `${d.rule.replaceAll('_', ' ')} from ${d.ip ?? d.correlationKey}`,
          summary: d.summary,
          correlationKey: d.correlationKey,
          ips: d.ip ? [d.ip] : [],
          userIds: d.userId ? [d.userId] : [],
          apiKeyIds: d.apiKeyId ? [d.apiKeyId] : [],
          detectedAt: d.at,
          lastDetectionAt: d.at,
          updatedAt: now,
        })
        .returning();
      const created = incident as Incident;
      const eventId = await appendTimeline(tx, created.id, now, [{ kind: 'opened', actor: SYSTEM, message: `Opened by ${d.rule} (${d.severity}): ${d.summary}`, details: detectionDetails }]);
      await deps.audit.recordIn(tx, {
        action: 'security.incident',
        outcome: 'success',
        actor: SYSTEM,
        origin: { ...ORIGIN, ip: d.ip },
        resource: { type: 'incident', id: created.id },
        details: { rule: d.rule, severity: d.severity, correlationKey: d.correlationKey, userId: d.userId, apiKeyId: d.apiKeyId, summary: d.summary },
      });
      const plan = await claimActions(tx, { ...opts, trusted: trustedSource(deps, d) }, created.id, d, now);
      return { result: { incident: created, opened: true, escalatedFrom: null, plan }, eventId: (await appendClaims(tx, created.id, now, d, plan)) ?? eventId };
    }
    const escalates = severityRank(d.severity) > severityRank(open.severity);
    const [updated] = await tx
      .update(incidents)
      .set({
        severity: escalates ? d.severity : open.severity,
        ips: withValue(open.ips, d.ip),
        userIds: withValue(open.userIds, d.userId),
        apiKeyIds: withValue(open.apiKeyIds, d.apiKeyId),
        detectionCount: open.detectionCount + 1,
        lastDetectionAt: d.at > open.lastDetectionAt ? d.at : open.lastDetectionAt,
        updatedAt: now,
      })
      .where(eq(incidents.id, open.id))
      .returning();
    const entries: NewTimelineEntry[] = [{ kind: 'detection', actor: SYSTEM, message: `${d.rule} (${d.severity}): ${d.summary}`, details: detectionDetails }];
    if (escalates) entries.push({ kind: 'escalated', actor: SYSTEM, message: `Escalated from ${open.severity} to ${d.severity} by ${d.rule}`, details: { from: open.severity, to: d.severity } });
    const eventId = await appendTimeline(tx, open.id, now, entries);
    await deps.audit.recordIn(tx, {
      action: escalates ? 'security.incident_escalated' : 'security.incident_joined',
      outcome: 'success',
      actor: SYSTEM,
      origin: { ...ORIGIN, ip: d.ip },
      resource: { type: 'incident', id: open.id },
      details: { rule: d.rule, severity: d.severity, correlationKey: d.correlationKey, ...(escalates ? { from: open.severity, to: d.severity } : {}) },
    });
    const plan = await claimActions(tx, { ...opts, trusted: trustedSource(deps, d) }, open.id, d, now);
    return { result: { incident: updated as Incident, opened: false, escalatedFrom: escalates ? open.severity : null, plan }, eventId: (await appendClaims(tx, open.id, now, d, plan)) ?? eventId };
  });
  await publishIncidentEvent(deps.bus, eventId);
  return result;
}

/** What each action came to, as the timeline tells it. */
interface Outcome {
  outcome: 'done' | 'refused' | 'failed';
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Decides, under the incidents lock, which planned actions this detection runs: a block or watch
 * still in force for this incident (requested or done, and not failed since) is not asked again,
 * so parallel reports of one attack ask for one block, not one each.
 */
const trustedSource = (deps: Pick<ApiDeps, 'config'>, d: Detection) => d.ip !== null && isAllowlisted(deps.config.ipAllowlist, d.ip);

async function claimActions(
  tx: Tx,
  opts: IncidentResponseOptions & { trusted: boolean },
  incidentId: string,
  d: Detection,
  now: Date,
): Promise<{ step: PlannedAction; skip: boolean }[]> {
  const plan = planResponse(d, { autoLockdown: opts.autoLockdown, now, trusted: opts.trusted });
  const earlier = await tx
    .select({ details: incidentTimeline.details })
    .from(incidentTimeline)
    .where(and(eq(incidentTimeline.incidentId, incidentId), eq(incidentTimeline.kind, 'action')))
    .orderBy(asc(incidentTimeline.id));
  const latest = new Map<string, Record<string, unknown>>();
  // A skip says nothing new about the action: the entry before it still tells its state.
  for (const e of earlier) if (e.details.outcome !== 'skipped') latest.set(String(e.details.key), e.details);
  const held = (key: string) => {
    const e = latest.get(key);
    if (!e || !(e.outcome === 'requested' || e.outcome === 'done')) return false;
    return typeof e.until !== 'string' || new Date(e.until) > now;
  };
  // Ending sessions again is right while the attack goes on; a note that nothing was done is cheap.
  return plan.map((step) => ({ step, skip: step.action !== 'endSessionsOf' && step.action !== 'record' && held(step.key) }));
}

async function appendClaims(tx: Tx, incidentId: string, now: Date, d: Detection, plan: { step: PlannedAction; skip: boolean }[]): Promise<bigint | null> {
  return appendTimeline(
    tx,
    incidentId,
    now,
    plan.map(({ step, skip }) => ({
      kind: 'action' as const,
      actor: SYSTEM,
      message: skip ? `${describe(step)}: already in force for this incident` : `${describe(step)}: requested`,
      details: { key: step.key, action: step.action, outcome: skip ? 'skipped' : 'requested', severity: d.severity, ...untilOf(step) },
    })),
  );
}

/** Runs the claimed actions after the incident committed and records what each came to. */
async function respond(deps: Deps, incident: Incident, d: Detection, plan: { step: PlannedAction; skip: boolean }[]): Promise<void> {
  const entries: NewTimelineEntry[] = [];
  for (const { step, skip } of plan) {
    if (skip) continue;
    const outcome = await perform(deps, deps.securityResponse, incident, d, step);
    entries.push({ kind: 'action', actor: SYSTEM, message: outcome.message, details: { key: step.key, action: step.action, outcome: outcome.outcome, severity: d.severity, ...untilOf(step), ...outcome.details } });
  }
  if (entries.length === 0) return;
  const eventId = await auditedTransaction(deps, async (tx) => {
    await lockIncidents(tx);
    return appendTimeline(tx, incident.id, deps.clock.now(), entries);
  });
  await publishIncidentEvent(deps.bus, eventId);
}

function untilOf(step: PlannedAction): Record<string, string> {
  if (step.action === 'blockIp') return { until: step.expiresAt.toISOString() };
  if (step.action === 'markSuspicious') return { until: step.until.toISOString() };
  return {};
}

function describe(step: PlannedAction): string {
  switch (step.action) {
    case 'blockIp':
      return `Block ${step.ip} until ${step.expiresAt.toISOString()}`;
    case 'endSessionsOf':
      return `End the sessions of account ${step.userId}`;
    case 'markSuspicious':
      return `Watch ${step.ip} (half rate limits) until ${step.until.toISOString()}`;
    case 'lockdown':
      return 'Emergency lockdown';
    case 'recommendLockdown':
      return 'Emergency lockdown recommended';
    case 'record':
      return 'Recorded';
  }
}

async function perform(deps: Deps, port: SecurityResponse, incident: Incident, d: Detection, step: PlannedAction): Promise<Outcome> {
  const reason = `incident ${incident.id}: ${d.rule} (${d.severity})`;
  const label = describe(step);
  try {
    switch (step.action) {
      case 'blockIp': {
        const { blocked } = await port.blockIp({ ip: step.ip, reason, source: `rule:${d.rule}`, expiresAt: step.expiresAt, incidentId: incident.id });
        return blocked ? { outcome: 'done', message: `${label}: blocked` } : { outcome: 'refused', message: `${label}: refused (allowlisted or not blockable)` };
      }
      case 'endSessionsOf': {
        const ended = await port.endSessionsOf({ userId: step.userId, reason, incidentId: incident.id });
        return { outcome: 'done', message: `${label}: ${ended} session(s) ended`, details: { ended } };
      }
      case 'markSuspicious':
        await port.markSuspicious({ ip: step.ip, reason, until: step.until, incidentId: incident.id });
        return { outcome: 'done', message: `${label}: watched` };
      case 'lockdown':
        await port.lockdown({ reason, incidentId: incident.id });
        return { outcome: 'done', message: `${label}: engaged (INCIDENT_AUTO_LOCKDOWN=1)` };
      case 'recommendLockdown':
        await port.raiseAlert({
          type: 'incident.lockdown_recommended',
          severity: 'CRITICAL',
          title: `Emergency lockdown recommended: ${incident.title}`,
          message: `A CRITICAL detection (${d.rule}) in incident ${incident.id}; an admin may engage security.lockdown.`,
          incidentId: incident.id,
          ip: d.ip,
          userId: d.userId,
          details: { rule: d.rule },
        });
        return { outcome: 'done', message: `${label}: an admin may engage it (alert raised)` };
      case 'record':
        return { outcome: 'done', message: `Recorded (${d.severity}): no automated action` };
    }
  } catch (err) {
    deps.logger.error({ err, incidentId: incident.id, action: step.action }, 'automated incident response failed');
    return { outcome: 'failed', message: `${label}: failed (see the server log)` };
  }
}

async function safely(deps: Deps, action: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    deps.logger.error({ err, action }, 'incident alert failed');
  }
}
