import { createHash } from 'node:crypto';
import type { ChainedContent } from '../../audit/chain.ts';
import { countEvent, type DetectionEvent } from './events.ts';

/** Emails are counted, never kept: a distinct count only needs to tell them apart. */
export function hashMember(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The detection events one committed audit row stands for (none for most rows). */
export function eventsFromAuditRow(row: ChainedContent): DetectionEvent[] {
  const at = new Date(row.at);
  const ip = row.ip && row.ip !== 'unknown' ? row.ip : null;
  switch (row.action) {
    case 'auth.login_failed': {
      const userId = row.actorType === 'user' ? row.actorId : null;
      const typed = str(row.details.email) ?? str(row.details.emailFingerprint);
      const email = typed ? hashMember(typed) : null;
      const source = { ip, userId, apiKeyId: null };
      const out: DetectionEvent[] = [];
      const details = { reason: row.details.reason ?? null };
      if (ip) {
        out.push(countEvent('brute_force', `ip:${ip}`, source, at, { details }));
        if (email) out.push(countEvent('credential_stuffing', `ip:${ip}`, source, at, { member: email, details }));
        // The account under attack: its id when it exists, else the (hashed) text typed as its email.
        const account = userId ? `user:${userId}` : email ? `email:${email}` : null;
        if (account) out.push(countEvent('distributed_brute_force', account, { ip: null, userId, apiKeyId: null }, at, { member: ip, details }));
      }
      return out;
    }
    case 'auth.refresh_reuse': {
      if (!row.actorId) return [];
      return [countEvent('refresh_reuse', `user:${row.actorId}`, { ip, userId: row.actorId, apiKeyId: null }, at, { details: { sessionId: row.resourceId } })];
    }
    case 'apikey.auth_failed': {
      if (row.details.reason !== 'REVOKED' || !row.resourceId) return [];
      const ownerId = str(row.details.ownerId);
      return [countEvent('revoked_api_key', `apikey:${row.resourceId}`, { ip, userId: ownerId, apiKeyId: row.resourceId }, at)];
    }
    case 'auth.login': {
      if (row.outcome !== 'success' || row.actorType !== 'user' || !row.actorId || !ip) return [];
      return [{ kind: 'admin_login', userId: row.actorId, ip, apiKeyId: null, sessionId: row.resourceId, at }];
    }
    case 'authz.denied': {
      if (!row.actorId) return [];
      const apiKeyId = row.actorType === 'apikey' ? row.actorId : null;
      const userId = str(row.details.onBehalfOf) ?? (apiKeyId ? null : row.actorId);
      const key = apiKeyId ? `apikey:${apiKeyId}` : `user:${row.actorId}`;
      return [countEvent('enumeration', key, { ip, userId, apiKeyId }, at, { details: { procedure: row.resourceId, permission: row.details.permission ?? null } })];
    }
    default:
      return [];
  }
}
