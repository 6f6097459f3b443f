import { EventEmitter, on } from 'node:events';
import { asc, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { securityAlerts, securityWebhookOutbox, type EventBus, type Queryable, type SecurityAlertRow } from '@tapevision/db';
import type { ApiDeps } from '../../deps.ts';
import { redactSecrets } from '../../audit/redact.ts';
import { auditedTransaction } from '../../audit/recorder.ts';
import { newestIdOf } from '../../services/bus-stream.ts';
import type { SecurityAlertInput } from '../response.ts';
import type { SecurityAlertView } from '../../schemas/trading.ts';

export type { SecurityAlertView };

/** Carries only the newest alert's id (or an acknowledged one): subscribers read the rows. */
export const SECURITY_ALERTS_CHANNEL = 'security_alerts';
// Held to commit so alert ids are handed out in commit order (as trading events do).
const ALERT_ORDER_LOCK = 7_401_236_131;
const PAGE = 500;


export function toSecurityAlertView(r: SecurityAlertRow): SecurityAlertView {
  return {
    id: r.id.toString(),
    type: r.type,
    severity: r.severity,
    title: r.title,
    message: r.message,
    incidentId: r.incidentId,
    ip: r.ip,
    userId: r.userId,
    details: r.details,
    createdAt: r.createdAt.toISOString(),
    acknowledgedAt: r.acknowledgedAt?.toISOString() ?? null,
    acknowledgedBy: r.acknowledgedBy,
  };
}

/** Persists the alert and its webhook delivery in one transaction, then tells every process. */
export async function raiseSecurityAlert(deps: Pick<ApiDeps, 'db' | 'bus' | 'clock'>, input: SecurityAlertInput): Promise<bigint> {
  const id = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ALERT_ORDER_LOCK})`);
    const [row] = await tx
      .insert(securityAlerts)
      .values({
        type: input.type.slice(0, 100),
        severity: input.severity,
        title: input.title.slice(0, 300),
        message: input.message.slice(0, 4000),
        incidentId: input.incidentId,
        ip: input.ip,
        userId: input.userId,
        details: redactSecrets(input.details) as Record<string, unknown>,
        createdAt: deps.clock.now(),
      })
      .returning({ id: securityAlerts.id });
    await tx.insert(securityWebhookOutbox).values({ alertId: row!.id, nextAttemptAt: deps.clock.now() });
    return row!.id;
  });
  await publishAlert(deps.bus, id, 'raised');
  return id;
}

async function publishAlert(bus: EventBus, id: bigint, event: 'raised' | 'acknowledged') {
  await bus.publish(SECURITY_ALERTS_CHANNEL, { id: id.toString(), event });
}

export async function recentSecurityAlerts(db: Queryable, limit: number): Promise<SecurityAlertRow[]> {
  return db.select().from(securityAlerts).orderBy(desc(securityAlerts.id)).limit(limit);
}

export async function securityAlertsAfter(db: Queryable, afterId: bigint): Promise<SecurityAlertRow[]> {
  return db.select().from(securityAlerts).where(gt(securityAlerts.id, afterId)).orderBy(asc(securityAlerts.id)).limit(PAGE);
}

export async function newestSecurityAlertId(db: Queryable): Promise<bigint> {
  return newestIdOf(db, securityAlerts, securityAlerts.id);
}

export type SecurityAlertEvent = { event: 'raised' | 'acknowledged'; row: SecurityAlertRow };

/**
 * Security alerts as they commit on any process; with afterId, first every one after it. Listens
 * before reading and skips ids at or below the last yielded, so nothing is lost or repeated.
 * Acknowledgements come through as they happen (not replayed on resume: the list has them).
 */
export async function* securityAlertStream(
  deps: Pick<ApiDeps, 'db' | 'bus'>,
  afterId: bigint | null,
  signal: AbortSignal | undefined,
): AsyncGenerator<SecurityAlertEvent> {
  const local = new EventEmitter();
  const live = on(local, 'notice', signal ? { signal } : {});
  const unsubscribe = await deps.bus.subscribe(SECURITY_ALERTS_CHANNEL, (payload) => local.emit('notice', payload));
  try {
    let cursor = afterId ?? (await newestSecurityAlertId(deps.db));
    const drain = async function* (): AsyncGenerator<SecurityAlertEvent> {
      for (;;) {
        const rows = await securityAlertsAfter(deps.db, cursor);
        for (const row of rows) {
          cursor = row.id;
          yield { event: 'raised', row };
        }
        if (rows.length < PAGE) return;
      }
    };
    if (afterId !== null) yield* drain();
    for await (const [payload] of live) {
      const notice = payload as { id?: string; event?: string };
      if (typeof notice.id !== 'string' || !/^\d{1,19}$/.test(notice.id)) continue;
      if (notice.event === 'acknowledged') {
        const [row] = await deps.db.select().from(securityAlerts).where(eq(securityAlerts.id, BigInt(notice.id)));
        if (row && row.id <= cursor) yield { event: 'acknowledged', row };
        continue;
      }
      if (BigInt(notice.id) > cursor) yield* drain();
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe();
    await live.return?.();
  }
}

/** Acknowledges once: a second call answers the first acknowledgement and changes nothing. */
export async function acknowledgeSecurityAlert(
  deps: ApiDeps,
  id: bigint,
  who: { userId: string; origin: { ip: string | null; userAgent: string | null; requestId: string | null }; actorType: 'user' | 'apikey'; actorId: string },
): Promise<SecurityAlertRow | null> {
  const result = await auditedTransaction(deps, async (tx) => {
    const [updated] = await tx
      .update(securityAlerts)
      .set({ acknowledgedAt: deps.clock.now(), acknowledgedBy: who.userId })
      .where(sql`${securityAlerts.id} = ${id} and ${isNull(securityAlerts.acknowledgedAt)}`)
      .returning();
    if (updated) {
      await deps.audit.recordIn(tx, {
        action: 'alert.acknowledged',
        outcome: 'success',
        actor: { type: who.actorType, id: who.actorId },
        origin: who.origin,
        resource: { type: 'security_alert', id: id.toString() },
        details: { kind: 'security', type: updated.type, severity: updated.severity },
      });
      return { row: updated, changed: true };
    }
    const [existing] = await tx.select().from(securityAlerts).where(eq(securityAlerts.id, id));
    return { row: existing ?? null, changed: false };
  });
  if (result.changed && result.row) await publishAlert(deps.bus, id, 'acknowledged');
  return result.row;
}
