import { z } from 'zod';
import { text } from './text.ts';
import { newPasswordSchema } from './password.ts';

export const emailSchema = text()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: 'Enter a valid email address' }));

export const loginInput = z.strictObject({
  // No format check, nor the text rule: a malformed email (NUL included) must fail exactly like an
  // unknown one, counted by the throttle. The credentials only reach a lookup and argon2, never storage.
  email: z.string().trim().min(1, 'Enter your email').max(254),
  password: z.string().min(1, 'Enter your password').max(1024),
  /** Browsers get the refresh token in an HttpOnly cookie; services may ask for it in the body. */
  refreshTokenDelivery: z.enum(['cookie', 'body']).optional(),
});

export const refreshInput = z
  .strictObject({
    refreshToken: text().min(32).max(128).optional(),
  })
  .optional();

export const changePasswordInput = z.strictObject({
  // As at sign-in: a wrong current password of any shape counts toward the lock-out.
  currentPassword: z.string().min(1, 'Enter your current password').max(1024),
  newPassword: newPasswordSchema,
});

export const sessionIdInput = z.strictObject({ sessionId: z.uuid() });

export type LoginInput = z.infer<typeof loginInput>;
export type ChangePasswordInput = z.infer<typeof changePasswordInput>;
