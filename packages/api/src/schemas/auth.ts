import { z } from 'zod';
import { newPasswordSchema } from './password.ts';

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: 'Enter a valid email address' }));

export const loginInput = z.strictObject({
  // No format check: a malformed email must fail exactly like an unknown one.
  email: z.string().trim().min(1, 'Enter your email').max(254),
  password: z.string().min(1, 'Enter your password').max(1024),
  /** Browsers get the refresh token in an HttpOnly cookie; services may ask for it in the body. */
  refreshTokenDelivery: z.enum(['cookie', 'body']).optional(),
});

export const refreshInput = z
  .strictObject({
    refreshToken: z.string().min(32).max(128).optional(),
  })
  .optional();

export const changePasswordInput = z.strictObject({
  currentPassword: z.string().min(1, 'Enter your current password').max(1024),
  newPassword: newPasswordSchema,
});

export const sessionIdInput = z.strictObject({ sessionId: z.uuid() });

export type LoginInput = z.infer<typeof loginInput>;
export type ChangePasswordInput = z.infer<typeof changePasswordInput>;
