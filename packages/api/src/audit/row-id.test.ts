import { describe, expect, it } from 'vitest';
import { validate, version } from 'uuid';
import { createRowIdSource } from './row-id.ts';

describe('audit row ids', () => {
  it('are valid, distinct UUID v7s that ascend, also many within one millisecond and across pool refills', () => {
    const nextId = createRowIdSource();
    const before = Date.now();
    const ids = Array.from({ length: 5_000 }, () => nextId());
    const after = Date.now();
    expect(ids.every((id) => validate(id) && version(id) === 7)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i += 1) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} then ${ids[i]}`).toBe(true);
    // The first 48 bits are the millisecond the id was made in (or, at most, a borrowed later one).
    const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msOf(ids[0]!)).toBeGreaterThanOrEqual(before);
    expect(msOf(ids.at(-1)!)).toBeLessThanOrEqual(after + 1);
    // The random tail is not repeated from one id to the next.
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBe(ids.length);
  });

  it('keep ascending when the clock steps back', () => {
    const realNow = Date.now;
    const nextId = createRowIdSource();
    try {
      Date.now = () => 2_000_000_000_000;
      const first = nextId();
      Date.now = () => 1_999_999_999_000;
      const second = nextId();
      expect(second > first).toBe(true);
    } finally {
      Date.now = realNow;
    }
  });
});
