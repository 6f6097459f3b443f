import { AUDIT_FILTER_KEYS, auditFilterInput, type AuditFilter } from '@tapevision/api/schemas';
import { issuesByField } from './errors.ts';

/** Every filter audit.list, audit.export and audit.onEvent share, in the order the bar shows them. */
export { AUDIT_FILTER_KEYS };

export type AuditFilterKey = (typeof AUDIT_FILTER_KEYS)[number];

/** The filter bar as typed: strings, '' for "any"; from/to as datetime-local values (local time). */
export type AuditFilterDraft = Record<AuditFilterKey, string>;

export const EMPTY_DRAFT: AuditFilterDraft = Object.fromEntries(AUDIT_FILTER_KEYS.map((k) => [k, ''])) as AuditFilterDraft;

/**
 * The filters a URL's search parameters name, checked with the server's schema: a link that was
 * edited by hand gets an error, not a request the server would refuse anyway.
 */
export function filtersFromSearch(params: URLSearchParams): { filters: AuditFilter; error: string | null } {
  const candidate: Record<string, string> = {};
  for (const key of AUDIT_FILTER_KEYS) {
    const value = params.get(key);
    if (value !== null && value !== '') candidate[key] = value;
  }
  const parsed = auditFilterInput.safeParse(candidate);
  if (!parsed.success) {
    const fields = Object.keys(issuesByField(parsed.error.issues)).join(', ');
    return { filters: {}, error: `This link's filters are not valid (${fields}); showing every entry instead.` };
  }
  return { filters: parsed.data, error: null };
}

/** Only the filters that are set, as search parameters (stable order, so equal filters give equal URLs). */
export function searchFromFilters(filters: AuditFilter): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of AUDIT_FILTER_KEYS) {
    const value = filters[key];
    if (value !== undefined) params.set(key, value);
  }
  return params;
}

export function isEmptyFilter(filters: AuditFilter): boolean {
  return AUDIT_FILTER_KEYS.every((key) => filters[key] === undefined);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** An ISO time as a datetime-local input's value, in local time, to the second. */
export function isoToLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A datetime-local value (local time) as an ISO time; null when it is not a time. */
export function localInputToIso(value: string): string | null {
  const d = new Date(value);
  return value && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

export function draftFromFilters(filters: AuditFilter): AuditFilterDraft {
  const draft = { ...EMPTY_DRAFT };
  for (const key of AUDIT_FILTER_KEYS) {
    const value = filters[key];
    if (value !== undefined) draft[key] = key === 'from' || key === 'to' ? isoToLocalInput(value) : value;
  }
  return draft;
}

export type DraftErrors = Partial<Record<AuditFilterKey | '_form', string>>;

/** The bar's values checked with the server's own schema, plus the one rule it cannot state per field. */
export function filtersFromDraft(draft: AuditFilterDraft): { ok: true; filters: AuditFilter } | { ok: false; errors: DraftErrors } {
  const errors: DraftErrors = {};
  const candidate: Record<string, string> = {};
  for (const key of AUDIT_FILTER_KEYS) {
    const value = draft[key].trim();
    if (value === '') continue;
    if (key === 'from' || key === 'to') {
      const iso = localInputToIso(value);
      if (iso === null) errors[key] = 'Enter a valid date and time';
      else candidate[key] = iso;
    } else {
      candidate[key] = value;
    }
  }
  const parsed = auditFilterInput.safeParse(candidate);
  if (!parsed.success) Object.assign(errors, issuesByField(parsed.error.issues), errors);
  if (candidate.from && candidate.to && candidate.from >= candidate.to && !errors.to) errors.to = 'Must be after "From"';
  if (!parsed.success || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, filters: parsed.data };
}
