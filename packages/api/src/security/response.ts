import type { Logger } from 'pino';

export type SecuritySeverity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** A security alert as the detection and response code raises it (persisted and delivered by alerts). */
export interface SecurityAlertInput {
  /** What happened: 'threshold', 'ip.blocked', 'incident.opened', 'incident.escalated', 'lockdown.engaged', 'lockdown.lifted', … */
  type: string;
  severity: SecuritySeverity;
  title: string;
  message: string;
  incidentId: string | null;
  ip: string | null;
  userId: string | null;
  details: Record<string, unknown>;
}

/** One rule crossing its threshold, as detection reports it to incidents. */
export interface Detection {
  /** The rule that fired, from the detection rules table: 'brute_force', 'credential_stuffing', 'payload', 'scanner', … */
  rule: string;
  severity: SecuritySeverity;
  summary: string;
  /** The source address, when there is one. */
  ip: string | null;
  /** The account under attack, or the principal that acted. */
  userId: string | null;
  apiKeyId: string | null;
  /** Related detections share it and join one open incident: 'ip:203.0.113.7', 'user:<id>'. */
  correlationKey: string;
  /** What was counted against which threshold, over which window. */
  count: number;
  threshold: number;
  windowSeconds: number;
  details: Record<string, unknown>;
  at: Date;
}

/**
 * What an incident's automated response may do. Each action belongs to its own feature (the
 * blocklist, lockdown, security alerts, sessions); detection calls them only through this port.
 */
export interface SecurityResponse {
  /** Blocks an address or CIDR until expiresAt; false when SECURITY_ALLOWLIST covers it. */
  blockIp(input: { ip: string; reason: string; source: string; expiresAt: Date; incidentId: string | null }): Promise<{ blocked: boolean }>;
  /** Flags an address as suspicious: half its rate limits until `until`. */
  markSuspicious(input: { ip: string; reason: string; until: Date; incidentId: string | null }): Promise<void>;
  /** Ends every session of an account under attack; returns how many ended. */
  endSessionsOf(input: { userId: string; reason: string; incidentId: string | null }): Promise<number>;
  /** Emergency lockdown, as security.lockdown does it, engaged by the system. */
  lockdown(input: { reason: string; incidentId: string | null }): Promise<void>;
  /** A security alert: persisted, streamed through alerts.onAlert, delivered to the webhook. */
  raiseAlert(input: SecurityAlertInput): Promise<void>;
  /** A rule fired: opens or joins an incident and responds by its severity. */
  reportDetection(detection: Detection): Promise<{ incidentId: string | null }>;
}

/** The port with the given actions; one not yet given only logs that it was asked for. */
export function createSecurityResponse(logger: Logger, parts: Partial<SecurityResponse>): SecurityResponse {
  const missing = (action: string) => async (input: unknown) => {
    logger.warn({ action, input }, 'security response action has no implementation');
    return undefined as never;
  };
  return {
    blockIp: parts.blockIp ?? (async (input) => (await missing('blockIp')(input), { blocked: false })),
    markSuspicious: parts.markSuspicious ?? missing('markSuspicious'),
    endSessionsOf: parts.endSessionsOf ?? (async (input) => (await missing('endSessionsOf')(input), 0)),
    lockdown: parts.lockdown ?? missing('lockdown'),
    raiseAlert: parts.raiseAlert ?? missing('raiseAlert'),
    reportDetection: parts.reportDetection ?? (async (input) => (await missing('reportDetection')(input), { incidentId: null })),
  };
}
