import { asc, eq, gt, sql } from 'drizzle-orm';
import { lockdownEvents, lockdowns, type EventBus, type Queryable } from '@tapevision/db';
import type { ApiDeps } from '../../deps.ts';
import { isIdNotice } from '../../services/bus-stream.ts';
import type { LockdownStatusEvent } from './schemas.ts';
import { statusOf, toLockdownView } from './service.ts';

/** Carries only the new event's id: subscribers read the rows themselves, in id order. */
export const LOCKDOWN_EVENTS_CHANNEL = 'tv_lockdown_events';

const PAGE = 200;
// A notice lost with a dropped LISTEN costs this delay, not an event.
const POLL_MS = 5_000;

export async function publishLockdownEvent(bus: EventBus, id: bigint): Promise<void> {
  await bus.publish(LOCKDOWN_EVENTS_CHANNEL, { id: id.toString() });
}

async function newestId(db: Queryable): Promise<bigint> {
  const [row] = await db.select({ max: sql<string | null>`max(${lockdownEvents.id})::text` }).from(lockdownEvents);
  return row?.max ? BigInt(row.max) : 0n;
}

async function eventsAfter(db: Queryable, after: bigint): Promise<LockdownStatusEvent[]> {
  const rows = await db
    .select({ event: lockdownEvents, lockdown: lockdowns })
    .from(lockdownEvents)
    .innerJoin(lockdowns, eq(lockdowns.id, lockdownEvents.lockdownId))
    .where(gt(lockdownEvents.id, after))
    .orderBy(asc(lockdownEvents.id))
    .limit(PAGE);
  const events: LockdownStatusEvent[] = [];
  for (const r of rows) {
    const view = await toLockdownView(db, r.lockdown);
    // The status as this event left it: an engage read after its lift still says it engaged.
    const asLeft = r.event.kind === 'engaged' ? { ...view, liftedAt: null, liftedBy: null, liftReason: null } : view;
    events.push({ id: r.event.id.toString(), kind: r.event.kind, at: r.event.at.toISOString(), lockdown: asLeft, status: statusOf(r.event.kind === 'engaged' ? asLeft : null) });
  }
  return events;
}

/**
 * Lockdowns engaged and lifted, on every process, in commit order. Listens before reading, so
 * nothing falls between the backfill after `lastEventId` and the live part.
 */
export async function* lockdownStatusStream(
  deps: Pick<ApiDeps, 'db' | 'bus'>,
  input: { lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<LockdownStatusEvent> {
  let wake: (() => void) | null = null;
  let pending = false;
  const poke = () => {
    pending = true;
    wake?.();
  };
  const unsubscribe = await deps.bus.subscribe(LOCKDOWN_EVENTS_CHANNEL, (payload) => {
    if (isIdNotice(payload)) poke();
  });
  signal?.addEventListener('abort', poke, { once: true });
  const timer = setInterval(poke, POLL_MS);
  timer.unref();
  try {
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : await newestId(deps.db);
    pending = Boolean(input.lastEventId);
    while (!signal?.aborted) {
      if (!pending) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      pending = false;
      if (signal?.aborted) return;
      for (;;) {
        const events = await eventsAfter(deps.db, cursor);
        for (const event of events) {
          if (signal?.aborted) return;
          cursor = BigInt(event.id);
          yield event;
        }
        if (events.length < PAGE) break;
      }
    }
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', poke);
    unsubscribe();
  }
}
