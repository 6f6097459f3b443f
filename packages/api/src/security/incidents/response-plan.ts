import type { Detection, SecuritySeverity } from '../response.ts';

/**
 * How long automated blocks and watches last. CRITICAL (brute force) blocks for a day, as the
 * issue asks; HIGH for an hour: its rules (an API flood, an admin on a new IP) include shared NATs
 * and false positives a person reviews well within the hour, and a new detection blocks again.
 */
export const RESPONSE_DURATIONS_MS = {
  criticalBlock: 24 * 3_600_000,
  highBlock: 3_600_000,
  watch: 3_600_000,
} as const;

export type PlannedAction =
  | { action: 'blockIp'; key: string; ip: string; expiresAt: Date }
  | { action: 'endSessionsOf'; key: string; userId: string }
  | { action: 'markSuspicious'; key: string; ip: string; until: Date }
  | { action: 'lockdown'; key: string }
  | { action: 'recommendLockdown'; key: string }
  | { action: 'record'; key: string };

/**
 * The automated response to one detection, by its severity. Each level includes the one below
 * it, so a CRITICAL also ends the sessions of an account under attack.
 */
export function planResponse(detection: Detection, opts: { autoLockdown: boolean; now: Date; trusted?: boolean }): PlannedAction[] {
  // A trusted source (SECURITY_ALLOWLIST) opens or joins its incident and raises its alerts, but
  // nothing is done to it or for it automatically: a person reviews what a trusted network did.
  if (opts.trusted) return [{ action: 'record', key: 'record' }];
  const { ip, userId } = detection;
  const at = (ms: number) => new Date(opts.now.getTime() + ms);
  const plan: PlannedAction[] = [];
  const severity: SecuritySeverity = detection.severity;
  if (severity === 'CRITICAL' || severity === 'HIGH') {
    const ms = severity === 'CRITICAL' ? RESPONSE_DURATIONS_MS.criticalBlock : RESPONSE_DURATIONS_MS.highBlock;
    if (ip) plan.push({ action: 'blockIp', key: `blockIp:${ip}`, ip, expiresAt: at(ms) });
    if (userId) plan.push({ action: 'endSessionsOf', key: `endSessionsOf:${userId}`, userId });
  }
  if (severity === 'CRITICAL') plan.push(opts.autoLockdown ? { action: 'lockdown', key: 'lockdown' } : { action: 'recommendLockdown', key: 'recommendLockdown' });
  if (severity === 'MEDIUM' && ip) plan.push({ action: 'markSuspicious', key: `markSuspicious:${ip}`, ip, until: at(RESPONSE_DURATIONS_MS.watch) });
  if (plan.length === 0) plan.push({ action: 'record', key: 'record' });
  return plan;
}
