import type { TRPCDefaultErrorShape as DefaultErrorShape, TRPCError } from '@trpc/server';
import { DetailedCause, type ErrorDetails } from '../errors.ts';

export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

export interface ErrorShapeData extends ErrorDetails {
  code: string;
  httpStatus: number;
  path?: string;
  issues?: ValidationIssue[];
}

function validationIssues(cause: unknown): ValidationIssue[] | null {
  if (!cause || typeof cause !== 'object' || !('issues' in cause) || !Array.isArray(cause.issues)) return null;
  return (cause.issues as { path?: PropertyKey[]; message?: unknown }[]).slice(0, 50).map((issue) => ({
    path: (issue.path ?? []).map((p) => (typeof p === 'number' ? p : String(p))),
    message: typeof issue.message === 'string' ? issue.message : 'Invalid value',
  }));
}

/**
 * Shapes every error the client sees: a plain message, typed details, validation issues by field.
 * Internal errors say nothing about why (no SQL, no stack): the log has the rest.
 */
export function formatError({ shape, error }: { shape: DefaultErrorShape; error: TRPCError }) {
  const issues = error.code === 'BAD_REQUEST' ? validationIssues(error.cause) : null;
  const details = error.cause instanceof DetailedCause ? error.cause.details : {};
  const internal = error.code === 'INTERNAL_SERVER_ERROR';
  const message = internal
    ? 'Internal server error'
    : issues
      ? `Invalid input: ${issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`
      : shape.message;
  const data: ErrorShapeData = {
    ...details,
    code: shape.data.code,
    httpStatus: shape.data.httpStatus,
    ...(shape.data.path ? { path: shape.data.path } : {}),
    ...(issues ? { issues } : {}),
  };
  return { code: shape.code, message, data };
}
