import { EventEmitter, on } from 'node:events';
import { and, asc, eq, gt, isNull, or, sql, type SQL } from 'drizzle-orm';
import { tradingEvents, type EventBus, type Queryable, type TradingEventKind, type TradingEventRow, type Tx } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import { settlesWithin } from './leader-loop.ts';
import { isIdNotice } from './bus-stream.ts';

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

function inScope(row: TradingEventRow, scope: EventScope): boolean {
  if (row.kind !== scope.kind) return false;
  if (scope.ownerId === null) return true;
  return row.ownerId === scope.ownerId || (scope.includeDeskWide === true && row.ownerId === null);
}

/** Every trading event, read once per process however many clients subscribe. */
export interface TradingEventFeed {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Id of the newest event handed to listeners (0 before the first). */
  cursor(): bigint;
  /** Listeners get events in id order, each once; returns the unsubscribe function. */
  onEvent(listener: (row: TradingEventRow) => void): () => void;
}

export interface TradingEventFeedOptions {
  deps: Pick<ApiDeps, 'db' | 'bus' | 'logger'>;
  /** Reads even without a notice this often, so a notice lost with a dropped LISTEN costs a delay, not an event. */
  pollMs: number;
}

/**
 * Reads new events after each notice (one read in flight, one queued, however many notices) and
 * hands them to this process's subscribers, instead of every subscriber querying for itself.
 */
export function createTradingEventFeed(opts: TradingEventFeedOptions): TradingEventFeed {
  const { deps } = opts;
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let cursor = 0n;
  let unsubscribe: (() => void) | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let reading: Promise<void> = Promise.resolve();
  let queued = false;
  let stopped = false;

  async function readOn() {
    queued = false;
    for (;;) {
      const rows = await deps.db
        .select()
        .from(tradingEvents)
        .where(gt(tradingEvents.id, cursor))
        .orderBy(asc(tradingEvents.id))
        .limit(EVENT_PAGE);
      for (const row of rows) {
        cursor = row.id;
        emitter.emit('event', row);
      }
      if (rows.length < EVENT_PAGE || stopped) return;
    }
  }

  function schedule() {
    if (queued || stopped) return;
    queued = true;
    reading = reading.then(readOn).catch((err: unknown) => deps.logger.warn({ err }, 'trading events not read; retrying on the next notice'));
  }

  return {
    async start() {
      cursor = await newestEventId(deps.db);
      unsubscribe = await deps.bus.subscribe(TRADING_EVENTS_CHANNEL, (payload) => {
        if (isIdNotice(payload) && BigInt(payload.id) > cursor) schedule();
      });
      timer = setInterval(schedule, opts.pollMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      unsubscribe?.();
      await settlesWithin(reading, 5_000);
      emitter.removeAllListeners();
    },
    cursor: () => cursor,
    onEvent(listener) {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
  };
}

/**
 * The scope's events as they commit, on every process; with `lastEventId`, first every one after
 * it from the database. Listens to the feed before reading, then skips anything at or below the
 * last id yielded: ids follow commit order, so nothing falls between backfill and live, and
 * nothing comes out twice or out of order.
 */
export async function* tradingEventStream(
  deps: Pick<ApiDeps, 'db' | 'tradingEvents'>,
  scope: EventScope,
  input: { lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TradingEventRow> {
  const local = new EventEmitter();
  const live = on(local, 'event', signal ? { signal } : {});
  const unsubscribe = deps.tradingEvents.onEvent((row) => {
    if (inScope(row, scope)) local.emit('event', row);
  });
  try {
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : deps.tradingEvents.cursor();
    if (input.lastEventId) {
      for (;;) {
        const rows = await eventsAfter(deps.db, scope, cursor);
        for (const row of rows) {
          if (signal?.aborted) return;
          cursor = row.id;
          yield row;
        }
        if (rows.length < EVENT_PAGE) break;
      }
    }
    for await (const [event] of live) {
      const row = event as TradingEventRow;
      if (row.id <= cursor) continue;
      cursor = row.id;
      yield row;
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe();
    await live.return?.();
  }
}
