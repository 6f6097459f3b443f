import { sql } from 'drizzle-orm';
import { bigserial, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.ts';

/**
 * A security incident: detections of one attack (same correlation key, or sharing an IP or an
 * account within the correlation window) gathered while it is open, with its response.
 */
export const incidents = pgTable(
  'incidents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The detection rule that opened it: 'brute_force', 'payload', … */
    type: text('type').notNull(),
    severity: text('severity').$type<'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL'>().notNull(),
    status: text('status').$type<'detected' | 'investigating' | 'contained' | 'resolved' | 'closed'>().notNull().default('detected'),
    title: text('title').notNull(),
    summary: text('summary').notNull(),
    correlationKey: text('correlation_key').notNull(),
    ips: text('ips').array().notNull().default(sql`'{}'::text[]`),
    userIds: text('user_ids').array().notNull().default(sql`'{}'::text[]`),
    apiKeyIds: text('api_key_ids').array().notNull().default(sql`'{}'::text[]`),
    assigneeId: uuid('assignee_id').references(() => users.id, { onDelete: 'set null' }),
    detectionCount: integer('detection_count').notNull().default(1),
    resolution: text('resolution'),
    detectedAt: timestamp('detected_at', { withTimezone: true, precision: 3 }).notNull(),
    lastDetectionAt: timestamp('last_detection_at', { withTimezone: true, precision: 3 }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull(),
    containedAt: timestamp('contained_at', { withTimezone: true, precision: 3 }),
    resolvedAt: timestamp('resolved_at', { withTimezone: true, precision: 3 }),
    closedAt: timestamp('closed_at', { withTimezone: true, precision: 3 }),
  },
  (t) => [
    // Not unique: a detection after the window opens a second incident for the same key while the
    // first is still open. One incident per attack is the incidents lock's job (store.ts).
    index('incidents_correlation_idx').on(t.correlationKey, t.lastDetectionAt),
    index('incidents_detected_at_id_idx').on(t.detectedAt, t.id),
    index('incidents_status_idx').on(t.status, t.lastDetectionAt),
  ],
);

/**
 * What happened to an incident, in commit order (ids are handed out under the incidents lock, so
 * a stream resuming after id N never misses an earlier one): detections, automated actions,
 * status and severity changes, assignments and notes.
 */
export const incidentTimeline = pgTable(
  'incident_timeline',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    incidentId: uuid('incident_id')
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    kind: text('kind').$type<IncidentTimelineKind>().notNull(),
    actorType: text('actor_type').$type<'system' | 'user'>().notNull(),
    actorId: text('actor_id'),
    message: text('message').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('incident_timeline_incident_idx').on(t.incidentId, t.id)],
);

export type IncidentTimelineKind = 'opened' | 'detection' | 'escalated' | 'action' | 'status' | 'severity' | 'assignment' | 'note' | 'closed';
export type Incident = typeof incidents.$inferSelect;
export type IncidentTimelineEntry = typeof incidentTimeline.$inferSelect;
