import { EventEmitter, on } from 'node:events';
import { and, asc, eq, gt, isNull, or, sql, type SQL } from 'drizzle-orm';
import { tradingEvents, type EventBus, type Queryable, type TradingEventKind, type TradingEventRow, type Tx } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';

/** Carries only the newest event's id: subscribers read the rows themselves, in id order. */
export const TRADING_EVENTS_CHANNEL = 'trading_events';

// Taken just before the insert and held to commit, so event ids are handed out in commit order:
// a subscriber that has read up to id N can never later find an N−1 it missed. Only the tail of
// each order's transaction is serialised, not the risk checks before it.
const EVENT_ORDER_LOCK = 7_401_236_130;

/** Most events a resuming subscriber replays per query; it reads on in pages of this size. */
const EVENT_PAGE = 500;

export interface NewTradingEvent {
  kind: TradingEventKind;
  ownerId: string | null;
  payload: Record<string, unknown>;
  at: Date;
}

/** Appends events inside the caller's transaction; publish the returned id once it commits. */
export async function appendTradingEvents(tx: Tx, events: NewTradingEvent[]): Promise<bigint | null> {
  if (events.length === 0) return null;
  await tx.execute(sql`select pg_advisory_xact_lock(${EVENT_ORDER_LOCK})`);
  const rows = await tx.insert(tradingEvents).values(events).returning({ id: tradingEvents.id });
  return rows.reduce<bigint | null>((max, r) => (max === null || r.id > max ? r.id : max), null);
}

export async function publishTradingEvent(bus: EventBus, id: bigint | null): Promise<void> {
  if (id !== null) await bus.publish(TRADING_EVENTS_CHANNEL, { id: id.toString() });
}

/** Which events a subscriber may see: one account's (plus desk-wide ones), or every account's. */
export type EventScope = { kind: TradingEventKind; ownerId: string | null; includeDeskWide?: boolean };

function scopeFilter(scope: EventScope): SQL | undefined {
  if (scope.ownerId === null) return eq(tradingEvents.kind, scope.kind);
  const own = eq(tradingEvents.ownerId, scope.ownerId);
  return and(eq(tradingEvents.kind, scope.kind), scope.includeDeskWide ? or(own, isNull(tradingEvents.ownerId)) : own);
}

async function eventsAfter(db: Queryable, scope: EventScope, afterId: bigint): Promise<TradingEventRow[]> {
  return db
    .select()
    .from(tradingEvents)
    .where(and(scopeFilter(scope), gt(tradingEvents.id, afterId)))
    .orderBy(asc(tradingEvents.id))
    .limit(EVENT_PAGE);
}

export async function recentEvents(db: Queryable, scope: EventScope, limit: number): Promise<TradingEventRow[]> {
  return db.select().from(tradingEvents).where(scopeFilter(scope)).orderBy(sql`${tradingEvents.id} desc`).limit(limit);
}

async function newestEventId(db: Queryable): Promise<bigint> {
  const [row] = await db.select({ max: sql<string | null>`max(${tradingEvents.id})::text` }).from(tradingEvents);
  return row?.max ? BigInt(row.max) : 0n;
}

function isNotice(payload: unknown): payload is { id: string } {
  return typeof payload === 'object' && payload !== null && typeof (payload as { id?: unknown }).id === 'string' && /^\d{1,19}$/.test((payload as { id: string }).id);
}

/**
 * The scope's events as they commit, on every process; with `lastEventId`, first every one after
 * it. Listens before reading and always reads on from the last id yielded, so a notice that is
 * lost, repeated or overtaken costs nothing, and nothing comes out twice or out of order.
 */
export async function* tradingEventStream(
  deps: Pick<ApiDeps, 'db' | 'bus'>,
  scope: EventScope,
  input: { lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TradingEventRow> {
  const local = new EventEmitter();
  const notices = on(local, 'notice', signal ? { signal } : {});
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = await deps.bus.subscribe(TRADING_EVENTS_CHANNEL, (payload) => {
      if (isNotice(payload)) local.emit('notice', payload);
    });
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : await newestEventId(deps.db);
    // `seen`: a notice's id. Ids follow commit order and the notice goes out after the commit, so
    // once a read made after it comes back short, nothing at or below it can still appear.
    const drain = async function* (seen: bigint): AsyncGenerator<TradingEventRow> {
      for (;;) {
        const rows = await eventsAfter(deps.db, scope, cursor);
        for (const row of rows) {
          if (signal?.aborted) return;
          cursor = row.id;
          yield row;
        }
        if (rows.length < EVENT_PAGE) {
          if (seen > cursor) cursor = seen;
          return;
        }
      }
    };
    if (input.lastEventId) yield* drain(0n);
    for await (const [notice] of notices) {
      const id = BigInt((notice as { id: string }).id);
      if (id <= cursor) continue;
      yield* drain(id);
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe?.();
    await notices.return?.();
  }
}
