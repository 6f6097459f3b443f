// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { permissionProcedure, router } from '../../trpc.ts';
import { incidentCloseInput, incidentIdInput, incidentNoteInput, incidentsListInput, incidentStreamInput, incidentUpdateInput } from './schemas.ts';
import { addIncidentNote, closeIncident, getIncident, incidentReport, listIncidents, updateIncident } from './service.ts';
import { incidentStream, type IncidentEvent } from './stream.ts';

const read = permissionProcedure('alerts.view');
const manage = permissionProcedure('security.manage');

const actorOf = (ctx: { principal: { userId: string }; origin: { ip: string | null; userAgent: string | null; requestId: string | null } }) => ({
  userId: ctx.principal.userId,
  origin: ctx.origin,
});

export const incidentsRouter = router({
  /** Newest first, filtered by status and severity, a page at a time. */
  list: read.input(incidentsListInput).query(({ ctx, input }) => listIncidents(ctx.deps, input)),
  /** One incident with its timeline, its people and keys by email and name, and its assignee. */
  get: read.input(incidentIdInput).query(({ ctx, input }) => getIncident(ctx.deps, input.id)),
  /** Moves the status forward, changes the severity or the assignee (an admin). */
  update: manage.input(incidentUpdateInput).mutation(({ ctx, input }) => updateIncident(ctx.deps, input, actorOf(ctx))),
  addNote: manage.input(incidentNoteInput).mutation(({ ctx, input }) => addIncidentNote(ctx.deps, input, actorOf(ctx))),
  close: manage.input(incidentCloseInput).mutation(({ ctx, input }) => closeIncident(ctx.deps, input, actorOf(ctx))),
  /** Duration, timeline, affected principals and the audit trail of the incident's span. */
  report: read.input(incidentIdInput).query(({ ctx, input }) => incidentReport(ctx.deps, input.id, actorOf(ctx))),
  /** Incidents opened and changed, live on every process; resumes after lastEventId. */
  onIncident: read.input(incidentStreamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<IncidentEvent>> {
    for await (const event of incidentStream(ctx.deps, input ?? {}, signal)) yield tracked(event.id, event);
  }),
});
