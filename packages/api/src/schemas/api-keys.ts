import { z } from 'zod';
import { text } from './text.ts';
import { PERMISSIONS } from '../permissions.ts';

export const API_KEY_MAX_GRACE_SECONDS = 7 * 24 * 3600;

export const createApiKeyInput = z.strictObject({
  name: text().trim().min(1, 'Name the key').max(100),
  permissions: z.array(z.enum(PERMISSIONS)).min(1, 'Choose at least one permission').max(PERMISSIONS.length),
  /** ISO 8601 date-time; omitted means the key does not expire. */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** Requests per minute allowed for this key. */
  rateLimit: z.number().int().min(1).max(100_000).optional(),
});

export const apiKeyIdInput = z.strictObject({ id: z.uuid() });

export const rollApiKeyInput = z.strictObject({
  id: z.uuid(),
  /** How long the old secret keeps working after the roll; 0 (default) ends it at once. */
  graceSeconds: z.number().int().min(0).max(API_KEY_MAX_GRACE_SECONDS).optional(),
});

export type CreateApiKeyInput = z.infer<typeof createApiKeyInput>;
