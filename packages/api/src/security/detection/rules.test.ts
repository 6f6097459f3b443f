import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DETECTION_RULES, parseDetectionEnabled, parseDetectionRules } from './rules.ts';

describe('detection rules table', () => {
  it('has the brief defaults', () => {
    expect(DEFAULT_DETECTION_RULES.brute_force).toMatchObject({ threshold: 6, windowSeconds: 300, severity: 'CRITICAL' });
    expect(DEFAULT_DETECTION_RULES.api_flood).toMatchObject({ threshold: 1001, windowSeconds: 60, severity: 'HIGH' });
    expect(DEFAULT_DETECTION_RULES.payload).toMatchObject({ threshold: 3, windowSeconds: 300, severity: 'HIGH' });
    for (const rule of Object.values(DEFAULT_DETECTION_RULES)) expect(rule.watchedThreshold).toBeLessThanOrEqual(rule.threshold);
  });

  it('applies DETECTION_RULES overrides without touching the defaults', () => {
    const rules = parseDetectionRules('{"api_flood":{"threshold":20}}');
    expect(rules.api_flood.threshold).toBe(20);
    expect(rules.api_flood.windowSeconds).toBe(60);
    expect(DEFAULT_DETECTION_RULES.api_flood.threshold).toBe(1001);
  });

  it.each(['not json', '{"nope":{}}', '{"brute_force":{"threshold":0}}', '{"brute_force":{"severity":"HUGE"}}', '{"payload":{"extra":1}}'])(
    'refuses %s with a clear error',
    (json) => {
      expect(() => parseDetectionRules(json)).toThrow(/DETECTION_RULES/);
    },
  );

  it('parses DETECTION_ENABLED', () => {
    expect(parseDetectionEnabled(undefined)).toBe(true);
    expect(parseDetectionEnabled('false')).toBe(false);
    expect(() => parseDetectionEnabled('maybe')).toThrow(/DETECTION_ENABLED/);
  });

  it('README lists every rule exactly as the table says', () => {
    const readme = readFileSync(new URL('../../../../../README.md', import.meta.url), 'utf8');
    for (const [name, r] of Object.entries(DEFAULT_DETECTION_RULES)) {
      expect(readme).toContain(`| \`${name}\` | ${r.description} | ${r.threshold} | ${r.windowSeconds} s | ${r.severity} | ${r.watchedThreshold} |`);
    }
  });
});
