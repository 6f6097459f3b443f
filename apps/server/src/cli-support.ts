/** Shared by the operator commands (audit:verify, secrets:rotate). */

/** Where a DATABASE_URL points, for a message: never its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/** One line for an error, from the first of an AggregateError and through an empty message to its cause. */
export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return errorMessage(err.errors[0]);
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return err.message || (cause ? errorMessage(cause) : err.name);
  }
  return String(err);
}
