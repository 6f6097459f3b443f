import { z } from 'zod';
import { text } from '../../schemas/text.ts';

// Browser-safe (the SPA's forms validate with these): no database imports here.
export const OPEN_STATUSES = ['detected', 'investigating', 'contained'] as const;
export const STATUS_ORDER = ['detected', 'investigating', 'contained', 'resolved', 'closed'] as const;
export type IncidentStatus = (typeof STATUS_ORDER)[number];
export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

const id = text().uuid();
const lastEventId = text().regex(/^\d{1,19}$/).nullish();

export const incidentsListInput = z
  .strictObject({
    status: z.enum(STATUS_ORDER).optional(),
    severity: z.enum(SEVERITIES).optional(),
    cursor: text().max(200).optional(),
    limit: z.number().int().min(1).max(100).optional(),
  })
  .optional();
export const incidentIdInput = z.strictObject({ id });
export const incidentUpdateInput = z
  .strictObject({
    id,
    // Closing goes through incidents.close, which takes the resolution.
    status: z.enum(['investigating', 'contained', 'resolved']).optional(),
    severity: z.enum(SEVERITIES).optional(),
    assignee: text().uuid().nullable().optional(),
  })
  .refine((v) => v.status !== undefined || v.severity !== undefined || v.assignee !== undefined, { message: 'Nothing to change' });
export const incidentNoteInput = z.strictObject({ id, note: text().trim().min(1).max(4_000) });
export const incidentCloseInput = z.strictObject({ id, resolution: text().trim().min(1).max(4_000) });
export const incidentStreamInput = z.strictObject({ lastEventId }).optional();

export type IncidentsListInput = z.infer<typeof incidentsListInput>;
export type IncidentUpdateInput = z.infer<typeof incidentUpdateInput>;
