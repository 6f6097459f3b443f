import { z } from 'zod';
import type { SecuritySeverity } from '../response.ts';

/** One rule's threshold and window; `watchedThreshold` applies to a source under "watch". */
export interface DetectionRule {
  description: string;
  severity: SecuritySeverity;
  /** The rule fires when the count in the window reaches this value (once per crossing). */
  threshold: number;
  windowSeconds: number;
  watchedThreshold: number;
}

/** Every detection rule's threshold, window and severity: the ONE table (README is checked against it). */
export const DEFAULT_DETECTION_RULES = {
  brute_force: { description: 'More than 5 failed sign-ins from one IP', severity: 'CRITICAL', threshold: 6, windowSeconds: 300, watchedThreshold: 3 },
  credential_stuffing: { description: 'Distinct emails failing sign-in from one IP', severity: 'HIGH', threshold: 10, windowSeconds: 600, watchedThreshold: 5 },
  distributed_brute_force: { description: 'Distinct IPs failing sign-in against one account', severity: 'HIGH', threshold: 10, windowSeconds: 600, watchedThreshold: 5 },
  payload: { description: 'Suspicious payloads (decoded) in string inputs from one source', severity: 'HIGH', threshold: 3, windowSeconds: 300, watchedThreshold: 2 },
  api_flood: { description: 'More than 1,000 calls a minute from one principal or IP', severity: 'HIGH', threshold: 1001, windowSeconds: 60, watchedThreshold: 501 },
  rate_limited: { description: 'Repeated rate-limit denials (429) for one source', severity: 'MEDIUM', threshold: 20, windowSeconds: 300, watchedThreshold: 10 },
  enumeration: { description: 'Repeated FORBIDDEN on procedures the principal lacks', severity: 'MEDIUM', threshold: 10, windowSeconds: 300, watchedThreshold: 5 },
  scanner: { description: 'Scanner user agent (sqlmap, nikto, nmap, …)', severity: 'MEDIUM', threshold: 1, windowSeconds: 3600, watchedThreshold: 1 },
  refresh_reuse: { description: 'Refresh-token reuse', severity: 'HIGH', threshold: 1, windowSeconds: 3600, watchedThreshold: 1 },
  revoked_api_key: { description: 'API key used after revocation', severity: 'HIGH', threshold: 1, windowSeconds: 3600, watchedThreshold: 1 },
  admin_new_ip: { description: 'Admin sign-in from an IP not in their sign-in history', severity: 'HIGH', threshold: 1, windowSeconds: 3600, watchedThreshold: 1 },
} as const satisfies Record<string, DetectionRule>;

export type DetectionRuleName = keyof typeof DEFAULT_DETECTION_RULES;
export type DetectionRules = Record<DetectionRuleName, DetectionRule>;

/** How long a MEDIUM detection puts a source under watch (lowered thresholds). */
export const WATCH_SECONDS = 3600;

const override = z
  .object({
    severity: z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']),
    threshold: z.number().int().min(1),
    windowSeconds: z.number().int().min(1).max(86_400),
    watchedThreshold: z.number().int().min(1),
  })
  .partial()
  .strict();

const overrides = z
  .object(Object.fromEntries(Object.keys(DEFAULT_DETECTION_RULES).map((name) => [name, override.optional()])) as Record<DetectionRuleName, z.ZodOptional<typeof override>>)
  .strict();

/**
 * The rules table with `DETECTION_RULES` (JSON, entries by rule name) applied; throws a clear
 * error naming the bad entry so the server refuses to start on a bad value.
 */
export function parseDetectionRules(json: string | undefined): DetectionRules {
  const rules: DetectionRules = structuredClone(DEFAULT_DETECTION_RULES) as DetectionRules;
  if (json === undefined || json.trim() === '') return rules;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('DETECTION_RULES must be a JSON object of rule overrides');
  }
  const parsed = overrides.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`DETECTION_RULES is invalid at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  for (const [name, entry] of Object.entries(parsed.data) as [DetectionRuleName, z.infer<typeof override> | undefined][]) {
    if (entry) Object.assign(rules[name], entry);
  }
  return rules;
}

/** `DETECTION_ENABLED`: on unless explicitly off. */
export function parseDetectionEnabled(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new Error('DETECTION_ENABLED must be true or false');
}
