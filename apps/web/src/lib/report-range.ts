import { REPORT_MAX_DAYS, securityReportInput } from '@tapevision/api/schemas';

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A local day as a date input's value. */
export function dayInput(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Local midnight starting this date input's day; null when it is not a day. */
function startOfDay(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const d = new Date(`${value}T00:00:00`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The last `days` days, today included, as the form's two days. */
export function lastDays(days: number, now = new Date()): { from: string; to: string } {
  const from = new Date(now);
  from.setDate(from.getDate() - (days - 1));
  return { from: dayInput(from), to: dayInput(now) };
}

export type RangeErrors = Partial<Record<'from' | 'to', string>>;

/**
 * Two days, both included, as security.report's range: from the first day's local midnight to the
 * midnight after the last. Checked with the server's own schema (order, at most a year).
 */
export function reportRange(days: { from: string; to: string }): { ok: true; range: { from: string; to: string } } | { ok: false; errors: RangeErrors } {
  const errors: RangeErrors = {};
  const from = startOfDay(days.from);
  const lastDay = startOfDay(days.to);
  if (!from) errors.from = 'Enter a valid day';
  if (!lastDay) errors.to = 'Enter a valid day';
  if (!from || !lastDay) return { ok: false, errors };
  const to = new Date(lastDay);
  to.setDate(to.getDate() + 1);
  const candidate = { from: from.toISOString(), to: to.toISOString() };
  const parsed = securityReportInput.safeParse(candidate);
  if (parsed.success) return { ok: true, range: parsed.data };
  for (const issue of parsed.error.issues) {
    const field = issue.path[0] === 'to' ? 'to' : 'from';
    // The schema speaks of instants; the form of days, both included.
    errors[field] ??=
      field === 'from' ? 'Must be on or before the last day' : `At most ${REPORT_MAX_DAYS} days per report`;
  }
  return { ok: false, errors };
}
