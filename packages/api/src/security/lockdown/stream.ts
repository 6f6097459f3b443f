import { asc, eq, gt } from 'drizzle-orm';
import { lockdownEvents, lockdowns, type EventBus, type Queryable } from '@tapevision/db';
import type { ApiDeps } from '../../deps.ts';
import { idCursorStream, newestIdOf } from '../../services/bus-stream.ts';
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

const newestId = (db: Queryable) => newestIdOf(db, lockdownEvents, lockdownEvents.id);

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
  yield* idCursorStream(deps.bus, { channel: LOCKDOWN_EVENTS_CHANNEL, eventsAfter: (after) => eventsAfter(deps.db, after), page: PAGE, newestId: () => newestId(deps.db), pollMs: POLL_MS }, input, signal);
}
