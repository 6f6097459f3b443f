import { describe, expect, it } from 'vitest';
import { lastDays, reportRange } from './report-range.ts';

describe('security report range', () => {
  it('defaults to seven days, today included', () => {
    expect(lastDays(7, new Date(2025, 2, 10, 15, 0))).toEqual({ from: '2025-03-04', to: '2025-03-10' });
  });

  it('runs from the first day’s midnight to the midnight after the last', () => {
    expect(reportRange({ from: '2025-03-04', to: '2025-03-10' })).toEqual({
      ok: true,
      range: { from: new Date(2025, 2, 4).toISOString(), to: new Date(2025, 2, 11).toISOString() },
    });
    // One day is a whole day.
    expect(reportRange({ from: '2025-03-04', to: '2025-03-04' }).ok).toBe(true);
  });

  it('refuses a backwards range, more than the server allows, and non-days', () => {
    expect(reportRange({ from: '2025-03-10', to: '2025-03-01' })).toEqual({ ok: false, errors: { from: 'Must be on or before the last day' } });
    expect(reportRange({ from: '2023-01-01', to: '2025-01-01' })).toEqual({ ok: false, errors: { to: 'At most 366 days per report' } });
    expect(reportRange({ from: '', to: '2025-01-01' })).toEqual({ ok: false, errors: { from: 'Enter a valid day' } });
  });
});
