import { describe, expect, it } from 'vitest';
import { draftFromFilters, EMPTY_DRAFT, filtersFromDraft, filtersFromSearch, isoToLocalInput, searchFromFilters } from './audit-filters.ts';

describe('audit filters', () => {
  it('turns the bar into the API filters: blanks dropped, local times as ISO, text trimmed', () => {
    const result = filtersFromDraft({
      ...EMPTY_DRAFT,
      from: '2025-03-01T08:30:00',
      to: '2025-03-02T08:30:00',
      action: 'auth.login_failed',
      minSeverity: 'HIGH',
      ip: ' 203.0.113.7 ',
    });
    expect(result).toEqual({
      ok: true,
      filters: {
        from: new Date('2025-03-01T08:30:00').toISOString(),
        to: new Date('2025-03-02T08:30:00').toISOString(),
        action: 'auth.login_failed',
        minSeverity: 'HIGH',
        ip: '203.0.113.7',
      },
    });
  });

  it('refuses what the server would: a range backwards, an over-long IP, an unknown action', () => {
    const result = filtersFromDraft({ ...EMPTY_DRAFT, from: '2025-03-02T00:00', to: '2025-03-01T00:00', ip: '1'.repeat(65), action: 'made.up' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.to).toBe('Must be after "From"');
    expect(result.errors.ip).toBeTruthy();
    expect(result.errors.action).toBeTruthy();
    expect(filtersFromDraft({ ...EMPTY_DRAFT, from: 'yesterday' })).toEqual({ ok: false, errors: { from: 'Enter a valid date and time' } });
  });

  it('round-trips through the URL, and ignores a link whose filters are not valid', () => {
    const filters = { outcome: 'denied', resourceType: 'user', from: '2025-03-01T08:30:00.000Z' } as const;
    const search = searchFromFilters(filters);
    expect(search.toString()).toBe('from=2025-03-01T08%3A30%3A00.000Z&outcome=denied&resourceType=user');
    expect(filtersFromSearch(search)).toEqual({ filters, error: null });
    expect(draftFromFilters(filters)).toEqual({ ...EMPTY_DRAFT, outcome: 'denied', resourceType: 'user', from: isoToLocalInput(filters.from) });

    const bad = filtersFromSearch(new URLSearchParams('severity=SEVERE&ip=10.0.0.1'));
    expect(bad.filters).toEqual({});
    expect(bad.error).toMatch(/severity/);
  });
});
