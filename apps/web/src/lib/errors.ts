import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@tapevision/api';

export type ApiError = TRPCClientError<AppRouter>;

export interface FieldIssue {
  path: (string | number)[];
  message: string;
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof TRPCClientError;
}

/** The tRPC error code ('UNAUTHORIZED', 'FORBIDDEN', …), or null for network and other errors. */
export function errorCode(err: unknown): string | null {
  return isApiError(err) ? (err.data?.code ?? null) : null;
}

export function errorReason(err: unknown): string | null {
  if (!isApiError(err)) return null;
  const reason = err.data?.reason;
  return typeof reason === 'string' ? reason : null;
}

export function isUnauthorized(err: unknown): boolean {
  return errorCode(err) === 'UNAUTHORIZED';
}

/** A message fit to show: the server's own wording for API errors, a generic one otherwise. */
export function errorMessage(err: unknown, fallback = 'Something went wrong. Try again.'): string {
  if (isApiError(err)) {
    if (!err.data) return 'Could not reach the server. Check your connection and try again.';
    return err.message || fallback;
  }
  if (err instanceof Error && err.message) return err.message;
  return fallback;
}

/** Field-level validation issues sent by the server (`error.data.issues`). */
export function errorIssues(err: unknown): FieldIssue[] {
  if (!isApiError(err)) return [];
  const issues = err.data?.issues;
  return Array.isArray(issues) ? issues : [];
}

/** zxcvbn feedback the server attaches to a rejected password (`error.data.feedback`). */
export function errorFeedback(err: unknown): { warning: string | null; suggestions: string[] } | null {
  if (!isApiError(err)) return null;
  const feedback = err.data?.feedback;
  if (!feedback || typeof feedback !== 'object') return null;
  return { warning: feedback.warning ?? null, suggestions: Array.isArray(feedback.suggestions) ? feedback.suggestions : [] };
}

/** Groups issues by their first path segment, e.g. { email: 'Enter a valid email address' }. */
export function issuesByField(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const key = issue.path.length ? String(issue.path[0]) : '_form';
    out[key] ??= issue.message;
  }
  return out;
}
