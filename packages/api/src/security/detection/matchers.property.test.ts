import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeInput, matchPayload, matchScanner } from './matchers.ts';

// Attackers choose every byte of an input: the matchers run in the detection worker on all of
// them, so a throw or a non-terminating decode there would stop detection for everyone.
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: fc.constantFrom('%', '2', '5', '3', 'C', '&', '#', 'x', ';', '<', '>', "'", '+', 'F', '0'), maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
);

describe('matchers on arbitrary input', () => {
  it('matchPayload and matchScanner never throw and answer a kind or null', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const kind = matchPayload(s);
        expect(kind === null || typeof kind === 'string').toBe(true);
        const scanner = matchScanner(s);
        expect(scanner === null || typeof scanner === 'string').toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('decodeInput is safe to apply again: never throws, lower-cased, and decoding its output changes no verdict', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const once = decodeInput(s);
        expect(once).toBe(once.toLowerCase());
        const twice = decodeInput(once);
        expect(typeof twice).toBe('string');
        // A payload found once decoded is still found when decoded again (no un-detection by repetition).
        if (once.length >= 4 && matchPayload(once) !== null) expect(matchPayload(twice)).not.toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });
});
