import { describe, expect, it } from 'vitest';
import { reconnectBackoffSeconds } from './client.ts';

describe('reconnectBackoffSeconds', () => {
  it('grows with failed connects but never waits more than a second', () => {
    for (let retries = 0; retries < 40; retries++) {
      const delay = reconnectBackoffSeconds(retries);
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(1);
    }
    // postgres.js's own default would wait 10–20 s here.
    expect(reconnectBackoffSeconds(30)).toBeGreaterThanOrEqual(0.5);
  });
});
