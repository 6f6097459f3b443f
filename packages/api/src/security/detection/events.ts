import type { DetectionRuleName } from './rules.ts';

/** Who an event is counted against, as incidents correlate it. */
export interface EventSource {
  ip: string | null;
  userId: string | null;
  apiKeyId: string | null;
}

/** One occurrence counted against a rule's window for `key` ('ip:…', 'user:…', 'apikey:…'). */
export interface CountEvent extends EventSource {
  kind: 'count';
  rule: DetectionRuleName;
  key: string;
  /** For distinct counts: what is counted once (a hashed email, an IP). */
  member: string | null;
  /** Several occurrences at once (flushed API-call counts). */
  weight: number;
  at: Date;
  details: Record<string, unknown>;
}

/** A request's features, checked in the worker (matchers cost CPU the request should not pay). */
export interface RequestEvent extends EventSource {
  kind: 'request';
  userAgent: string | null;
  procedure: string;
  input: unknown;
  at: Date;
}

/** A successful admin sign-in: the worker looks the IP up in the admin's sign-in history. */
export interface AdminLoginEvent extends EventSource {
  kind: 'admin_login';
  userId: string;
  ip: string;
  sessionId: string | null;
  at: Date;
}

export type DetectionEvent = CountEvent | RequestEvent | AdminLoginEvent;

export function countEvent(rule: DetectionRuleName, key: string, source: EventSource, at: Date, extra: { member?: string | null; weight?: number; details?: Record<string, unknown> } = {}): CountEvent {
  return { kind: 'count', rule, key, ...source, member: extra.member ?? null, weight: extra.weight ?? 1, at, details: extra.details ?? {} };
}
