import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';

/** Machine-readable detail carried to the client in `error.data`; never secrets or internals. */
export interface ErrorDetails {
  reason?: string;
  permission?: string;
  retryAfterMs?: number;
  feedback?: { warning: string | null; suggestions: string[] };
  [key: string]: unknown;
}

export class DetailedCause extends Error {
  constructor(readonly details: ErrorDetails) {
    super(details.reason ?? 'detail');
    this.name = 'DetailedCause';
  }
}

export function appError(code: TRPC_ERROR_CODE_KEY, message: string, details: ErrorDetails = {}): TRPCError {
  return new TRPCError({ code, message, cause: new DetailedCause(details) });
}

/** One message for every failed sign-in, so a caller cannot learn whether an account exists. */
export const INVALID_CREDENTIALS = 'Invalid email or password';
