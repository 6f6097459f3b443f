import { auditedTransaction } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import { endUserSessions } from '../../services/sessions.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ends every session of an account under attack, as users.revokeSessions does: the sessions end
 * in one commit with their audit row, then the bus tells every process to drop its cached copies
 * and close the sockets opened with them (4001). API keys are left alone: lockdown suspends those.
 */
export async function endSessionsOf(
  deps: Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'config' | 'tokens' | 'audit'>,
  input: { userId: string; reason: string; incidentId: string | null },
): Promise<number> {
  // Not an account id (a detection's guess): nothing to end, and no query the database would refuse.
  if (!UUID.test(input.userId)) return 0;
  const revocation = await auditedTransaction(deps, async (tx) => {
    const revocation = await endUserSessions(deps, tx, { userId: input.userId, reason: 'security_incident' });
    await deps.audit.recordIn(tx, {
      action: 'user.sessions_revoked',
      outcome: 'success',
      actor: { type: 'system' },
      origin: { ip: null, userAgent: null, requestId: null },
      resource: { type: 'user', id: input.userId },
      details: { count: revocation.ids.length, reason: input.reason.slice(0, 200), incidentId: input.incidentId },
    });
    return revocation;
  });
  await revocation.announce();
  return revocation.ids.length;
}
