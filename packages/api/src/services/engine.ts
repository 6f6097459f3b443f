import { EventEmitter, on } from 'node:events';
import { asc, eq, gt, sql } from 'drizzle-orm';
import { engineEvents, engineState, type EngineEvent, type EngineStateRow, type Queryable, type Tx } from '@tapevision/db';
import { auditedTransaction, type AuditActor, type AuditEvent, type RequestOrigin } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import { isIdNotice } from './bus-stream.ts';
import {
  riskLimitsSchema,
  type ConfigureSystemInput,
  type EngineEventKind,
  type EngineStatus,
  type EngineStatusEvent,
  type RiskLimits,
} from '../schemas/system.ts';
import { DEFAULT_UNIVERSE } from '../trading/instruments.ts';

/** Carries only the new event's id: listeners read the rows themselves, in id order. */
export const ENGINE_EVENTS_CHANNEL = 'engine_events';

export interface EngineActor {
  actor: AuditActor;
  origin: RequestOrigin;
}

/** Most events a resuming onStatus replays at once; it reads on in pages of this size. */
const EVENT_PAGE = 500;

function limitsOf(row: EngineStateRow): RiskLimits {
  return {
    maxPositionPerSymbol: row.maxPositionPerSymbol,
    maxDailyNotionalPerUser: row.maxDailyNotionalPerUser,
    limitPriceBandPct: row.limitPriceBandPct,
    maxOrderQuantity: row.maxOrderQuantity,
  };
}

function actorLabel(actor: AuditActor): string {
  return `${actor.type}:${actor.id ?? ''}`;
}

/** The one row exists from the first call on; racing first calls both end up reading it. */
async function ensureRow(db: Queryable): Promise<void> {
  await db.insert(engineState).values({ id: 1 }).onConflictDoNothing();
}

async function readRow(db: Queryable): Promise<EngineStateRow> {
  let [row] = await db.select().from(engineState).where(eq(engineState.id, 1));
  if (!row) {
    await ensureRow(db);
    [row] = await db.select().from(engineState).where(eq(engineState.id, 1));
  }
  if (!row) throw new Error('engine_state row missing');
  return row;
}

function toStatus(row: EngineStateRow, now: Date): EngineStatus {
  const running = row.state === 'running' && row.startedAt !== null;
  return {
    state: row.state,
    universe: DEFAULT_UNIVERSE.map((i) => ({ symbol: i.symbol, name: i.name, tickSize: i.tickSize, pointValue: i.pointValue })),
    riskLimits: limitsOf(row),
    uptimeSeconds: running ? Math.max(0, Math.floor((now.getTime() - (row.startedAt as Date).getTime()) / 1000)) : 0,
    startedAt: row.startedAt?.toISOString() ?? null,
    stoppedAt: row.stoppedAt?.toISOString() ?? null,
    version: row.version,
    updatedBy: row.updatedBy,
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function getEngineStatus(deps: Pick<ApiDeps, 'db' | 'clock'>): Promise<EngineStatus> {
  return toStatus(await readRow(deps.db), deps.clock.now());
}

type EventPayload = Omit<EngineStatusEvent, 'id' | 'at' | 'kind'>;

function eventPayload(row: EngineStateRow): EventPayload {
  return {
    state: row.state,
    riskLimits: limitsOf(row),
    version: row.version,
    startedAt: row.startedAt?.toISOString() ?? null,
    stoppedAt: row.stoppedAt?.toISOString() ?? null,
    updatedBy: row.updatedBy,
  };
}

function toStatusEvent(row: EngineEvent): EngineStatusEvent {
  return { id: row.id.toString(), at: row.at.toISOString(), kind: row.kind as EngineEventKind, ...(row.payload as EventPayload) };
}

/**
 * Runs one change under the row lock, so starts, stops and configures from every process take
 * turns; the event row is written in the same transaction, so event ids follow commit order.
 * `change` returns null when there is nothing to do (an idempotent repeat): no event, no audit;
 * otherwise `audit`'s row commits with the change.
 */
async function mutateEngine(
  deps: ApiDeps,
  kind: EngineEventKind,
  change: (row: EngineStateRow, now: Date) => Partial<EngineStateRow> | null,
  audit: (before: EngineStateRow, after: EngineStateRow, event: EngineEvent) => AuditEvent,
): Promise<{ before: EngineStateRow; after: EngineStateRow; event: EngineEvent | null }> {
  await ensureRow(deps.db);
  const result = await auditedTransaction(deps, async (tx: Tx) => {
    const [before] = await tx.select().from(engineState).where(eq(engineState.id, 1)).for('update');
    if (!before) throw new Error('engine_state row missing');
    const now = deps.clock.now();
    const patch = change(before, now);
    if (!patch) return { before, after: before, event: null };
    const [after] = await tx
      .update(engineState)
      .set({ ...patch, updatedAt: now, version: sql`${engineState.version} + 1` })
      .where(eq(engineState.id, 1))
      .returning();
    if (!after) throw new Error('engine_state update returned nothing');
    const [event] = await tx.insert(engineEvents).values({ at: now, kind, payload: eventPayload(after) }).returning();
    if (!event) throw new Error('engine event insert returned nothing');
    await deps.audit.recordIn(tx, audit(before, after, event));
    return { before, after, event };
  });
  if (result.event) await deps.bus.publish(ENGINE_EVENTS_CHANNEL, { id: result.event.id.toString() });
  return result;
}

export async function startEngine(deps: ApiDeps, who: EngineActor): Promise<EngineStatus> {
  const { after } = await mutateEngine(
    deps,
    'started',
    (row, now) => (row.state === 'running' ? null : { state: 'running', startedAt: now, updatedBy: actorLabel(who.actor) }),
    (_before, after, event) => ({
      action: 'system.engine_started',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: { type: 'engine', id: event.id.toString() },
      details: { version: after.version, startedAt: after.startedAt?.toISOString() ?? null },
    }),
  );
  return toStatus(after, deps.clock.now());
}

export async function stopEngine(deps: ApiDeps, who: EngineActor): Promise<EngineStatus> {
  const { after } = await mutateEngine(
    deps,
    'stopped',
    (row, now) => (row.state === 'stopped' ? null : { state: 'stopped', stoppedAt: now, updatedBy: actorLabel(who.actor) }),
    (before, after, event) => ({
      action: 'system.engine_stopped',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: { type: 'engine', id: event.id.toString() },
      details: {
        version: after.version,
        ranSeconds: before.startedAt && after.stoppedAt ? Math.floor((after.stoppedAt.getTime() - before.startedAt.getTime()) / 1000) : null,
      },
    }),
  );
  return toStatus(after, deps.clock.now());
}

export async function configureEngine(deps: ApiDeps, input: ConfigureSystemInput, who: EngineActor): Promise<EngineStatus> {
  const { after } = await mutateEngine(
    deps,
    'configured',
    (row, now) => {
    const current = limitsOf(row);
    const merged = riskLimitsSchema.safeParse({ ...current, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) });
    if (!merged.success) throw appError('BAD_REQUEST', 'Invalid risk limits', { issues: merged.error.issues });
    const next = merged.data;
    if ((Object.keys(next) as (keyof RiskLimits)[]).every((k) => next[k] === current[k])) return null;
    return { ...next, limitsUpdatedAt: now, limitsUpdatedBy: actorLabel(who.actor), updatedBy: actorLabel(who.actor) };
    },
    (before, after, event) => ({
      action: 'system.configured',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: { type: 'engine', id: event.id.toString() },
      details: { version: after.version, before: limitsOf(before), after: limitsOf(after) },
    }),
  );
  return toStatus(after, deps.clock.now());
}

async function eventsAfter(db: Queryable, afterId: bigint): Promise<EngineEvent[]> {
  return db.select().from(engineEvents).where(gt(engineEvents.id, afterId)).orderBy(asc(engineEvents.id)).limit(EVENT_PAGE);
}

async function lastEventId(db: Queryable): Promise<bigint> {
  const [row] = await db.select({ max: sql<string | null>`max(${engineEvents.id})::text` }).from(engineEvents);
  return row?.max ? BigInt(row.max) : 0n;
}

/**
 * Engine changes as they commit, on every process. With `lastEventId`, first the ones after it.
 * Listens before reading, then always reads on from the last id yielded: a notice lost, repeated
 * or overtaken by another costs nothing, and nothing comes out twice or out of order.
 */
export async function* engineStatusEvents(
  deps: Pick<ApiDeps, 'db' | 'bus'>,
  input: { lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<EngineStatusEvent> {
  const local = new EventEmitter();
  const notices = on(local, 'notice', signal ? { signal } : {});
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = await deps.bus.subscribe(ENGINE_EVENTS_CHANNEL, (payload) => {
      if (isIdNotice(payload)) local.emit('notice', payload);
    });
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : await lastEventId(deps.db);
    const drain = async function* (): AsyncGenerator<EngineStatusEvent> {
      for (;;) {
        const rows = await eventsAfter(deps.db, cursor);
        for (const row of rows) {
          if (signal?.aborted) return;
          cursor = row.id;
          yield toStatusEvent(row);
        }
        if (rows.length < EVENT_PAGE) return;
      }
    };
    if (input.lastEventId) yield* drain();
    for await (const [notice] of notices) {
      if (BigInt((notice as { id: string }).id) <= cursor) continue;
      yield* drain();
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe?.();
    await notices.return?.();
  }
}
