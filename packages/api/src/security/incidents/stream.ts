import { asc, eq, gt } from 'drizzle-orm';
import { incidents, incidentTimeline, type Queryable } from '@tapevision/db';
import type { ApiDeps } from '../../deps.ts';
import { idCursorStream, newestIdOf } from '../../services/bus-stream.ts';
import { INCIDENT_EVENTS_CHANNEL, toIncidentView, type IncidentView } from './store.ts';

export interface IncidentEvent {
  /** The timeline entry's id: the stream's event id. */
  id: string;
  /** What happened: 'opened', 'detection', 'escalated', 'action', 'status', 'note', 'closed', … */
  kind: string;
  message: string;
  incident: IncidentView;
}

const PAGE = 200;
// A notice lost with a dropped LISTEN costs this delay, not an event.
const POLL_MS = 5_000;

const newestId = (db: Queryable) => newestIdOf(db, incidentTimeline, incidentTimeline.id);

async function eventsAfter(db: Queryable, after: bigint): Promise<IncidentEvent[]> {
  const rows = await db
    .select({ entry: incidentTimeline, incident: incidents })
    .from(incidentTimeline)
    .innerJoin(incidents, eq(incidents.id, incidentTimeline.incidentId))
    .where(gt(incidentTimeline.id, after))
    .orderBy(asc(incidentTimeline.id))
    .limit(PAGE);
  return rows.map((r) => ({ id: r.entry.id.toString(), kind: r.entry.kind, message: r.entry.message, incident: toIncidentView(r.incident) }));
}

/**
 * Incidents as they open and change, on every process: each timeline entry, in commit order,
 * with its incident as it is now. Listens before reading, so nothing falls between the backfill
 * after `lastEventId` and the live part.
 */
export async function* incidentStream(deps: Pick<ApiDeps, 'db' | 'bus'>, input: { lastEventId?: string | null | undefined }, signal: AbortSignal | undefined): AsyncGenerator<IncidentEvent> {
  yield* idCursorStream(deps.bus, { channel: INCIDENT_EVENTS_CHANNEL, eventsAfter: (after) => eventsAfter(deps.db, after), page: PAGE, newestId: () => newestId(deps.db), pollMs: POLL_MS }, input, signal);
}
