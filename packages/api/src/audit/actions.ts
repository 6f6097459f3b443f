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
  'user.bootstrap_admin': 'HIGH',
  'apikey.created': 'MEDIUM',
  'apikey.rolled': 'MEDIUM',
  'apikey.revoked': 'MEDIUM',
  'apikey.auth_failed': 'MEDIUM',
  'ratelimit.denied': 'MEDIUM',
  'ws.limit_exceeded': 'MEDIUM',
  'system.started': 'MEDIUM',
  'system.stopped': 'MEDIUM',
} as const satisfies Record<string, Severity>;

export type AuditAction = keyof typeof AUDIT_SEVERITY;

export function severityOf(action: AuditAction): Severity {
  return AUDIT_SEVERITY[action];
}
