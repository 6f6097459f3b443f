export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** Every action the audit log knows, with the severity it is filed under. */
export const AUDIT_SEVERITY = {
  'auth.login': 'LOW',
  'auth.login_failed': 'MEDIUM',
  'auth.logout': 'LOW',
  'auth.refresh': 'LOW',
  'auth.refresh_failed': 'MEDIUM',
  'auth.refresh_reuse': 'HIGH',
  'auth.account_locked': 'HIGH',
  'auth.ip_throttled': 'HIGH',
  'auth.password_changed': 'MEDIUM',
  'auth.password_change_failed': 'MEDIUM',
  'authz.denied': 'MEDIUM',
  'session.created': 'LOW',
  'session.revoked': 'MEDIUM',
  'session.evicted': 'LOW',
  'user.created': 'MEDIUM',
  'user.role_changed': 'HIGH',
  'user.disabled': 'HIGH',
  'user.enabled': 'MEDIUM',
  'user.unlocked': 'MEDIUM',
  'user.password_reset': 'HIGH',
  'user.sessions_revoked': 'MEDIUM',
  'user.access_revoked': 'HIGH',
  'user.bootstrap_admin': 'HIGH',
  'apikey.created': 'MEDIUM',
  'apikey.rolled': 'MEDIUM',
  'apikey.revoked': 'MEDIUM',
  'apikey.auth_failed': 'MEDIUM',
  'ratelimit.denied': 'MEDIUM',
  'ws.limit_exceeded': 'MEDIUM',
  'system.started': 'MEDIUM',
  'system.stopped': 'MEDIUM',
  'audit.viewed': 'LOW',
  'audit.exported': 'HIGH',
  'audit.tail_started': 'MEDIUM',
  'audit.verified': 'MEDIUM',
  'audit.chain_broken': 'CRITICAL',
  'audit.retention_applied': 'HIGH',
  'security.report_viewed': 'MEDIUM',
  // The trading core's actions, filed here with the rest so the set stays in one module.
  'system.engine_started': 'HIGH',
  'system.engine_stopped': 'HIGH',
  'system.configured': 'HIGH',
  'trade.executed': 'MEDIUM',
  'trade.rejected': 'MEDIUM',
  'order.cancelled': 'MEDIUM',
  'position.closed': 'HIGH',
  'bot.created': 'MEDIUM',
  'bot.updated': 'MEDIUM',
  'bot.deleted': 'HIGH',
  'bot.started': 'MEDIUM',
  'bot.stopped': 'MEDIUM',
  'security.incident': 'CRITICAL',
  'alert.acknowledged': 'MEDIUM',
} as const satisfies Record<string, Severity>;

export type AuditAction = keyof typeof AUDIT_SEVERITY;

export function severityOf(action: AuditAction): Severity {
  return AUDIT_SEVERITY[action];
}
