import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ChainedContent } from '../../audit/chain.ts';
import { eventsFromAuditRow, hashMember } from './audit-sources.ts';
import { createBoundedQueue } from './queue.ts';
import { stringsIn } from './request-features.ts';

function row(over: Partial<ChainedContent>): ChainedContent {
  return { at: '2026-01-01T00:00:00.000Z', actorType: 'anonymous', actorId: null, action: 'auth.login_failed', outcome: 'failure', severity: 'MEDIUM', resourceType: null, resourceId: null, ip: '203.0.113.9', userAgent: null, requestId: null, details: {}, ...over };
}

describe('audit rows as detection events', () => {
  it('a failed sign-in counts per IP, distinct (hashed) emails per IP, distinct IPs per account', () => {
    const events = eventsFromAuditRow(row({ actorType: 'user', actorId: 'u1', details: { email: 'a@b.example', reason: 'bad_password' } }));
    expect(events.map((e) => e.kind === 'count' && [e.rule, e.key, e.member])).toEqual([
      ['brute_force', 'ip:203.0.113.9', null],
      ['credential_stuffing', 'ip:203.0.113.9', hashMember('a@b.example')],
      ['distributed_brute_force', 'user:u1', '203.0.113.9'],
    ]);
    expect(JSON.stringify(events)).not.toContain('a@b.example');
  });

  it('an API key failure counts only when the key was revoked', () => {
    expect(eventsFromAuditRow(row({ action: 'apikey.auth_failed', resourceId: 'k1', details: { reason: 'UNKNOWN' } }))).toEqual([]);
    expect(eventsFromAuditRow(row({ action: 'apikey.auth_failed', resourceId: 'k1', details: { reason: 'REVOKED', ownerId: 'u2' } }))).toMatchObject([{ rule: 'revoked_api_key', key: 'apikey:k1', userId: 'u2', apiKeyId: 'k1' }]);
  });

  it('other rows are not events', () => {
    expect(eventsFromAuditRow(row({ action: 'session.revoked' }))).toEqual([]);
  });
});

describe('the bounded queue', () => {
  it('drops (and counts) what does not fit, never blocks', () => {
    const q = createBoundedQueue<number>(3, pino({ level: 'silent' }), 'test');
    for (let i = 0; i < 5; i++) q.push(i);
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(2);
    expect(q.take(2)).toEqual([0, 1]);
    expect(q.take(10)).toEqual([2]);
  });
});

describe('strings in a raw input', () => {
  it('finds nested strings and keys, bounded', () => {
    expect(stringsIn({ a: ['x', { '<k>': 'y' }], n: 1 }).sort()).toEqual(['<k>', 'a', 'n', 'x', 'y'].sort());
    expect(stringsIn(Array.from({ length: 10_000 }, () => 's'))).toHaveLength(200);
  });
});
