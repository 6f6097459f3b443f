import { z } from 'zod';
import { text } from './text.ts';
import { ROLES } from '../permissions.ts';
import { emailSchema } from './auth.ts';
import { newPasswordSchema } from './password.ts';

export const roleSchema = z.enum(ROLES);
export const userStatusSchema = z.enum(['active', 'disabled']);

export const createUserInput = z.strictObject({
  email: emailSchema,
  role: roleSchema,
  /** Omitted: a one-time password is generated and returned once. */
  password: newPasswordSchema.optional(),
  /** An admin-set password must be changed at first login unless this is false. */
  mustChangePassword: z.boolean().optional(),
});

export const updateUserInput = z
  .strictObject({
    id: z.uuid(),
    role: roleSchema.optional(),
    status: userStatusSchema.optional(),
  })
  .refine((v) => v.role !== undefined || v.status !== undefined, { message: 'Nothing to change' });

export const userIdInput = z.strictObject({ id: z.uuid() });

export const listUsersInput = z
  .strictObject({
    search: text().trim().max(100).optional(),
    limit: z.number().int().min(1).max(200).default(100),
    /** The last email of the previous page (keyset pagination). */
    cursor: text().max(254).optional(),
    /** Sent by tRPC's infinite queries; pages only go forward. */
    direction: z.enum(['forward', 'backward']).optional(),
  })
  .optional();

export type CreateUserInput = z.infer<typeof createUserInput>;
export type UpdateUserInput = z.infer<typeof updateUserInput>;
