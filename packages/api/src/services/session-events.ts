import type { EventBus } from '@tapevision/db';

// Postgres channel names are identifiers: keep them lower-case and plain.
export const SESSION_EVENTS_CHANNEL = 'tv_session_events';

export interface SessionEvent {
  type: 'created' | 'revoked';
  userId: string;
  sessionId: string;
  reason: string | null;
  at: string;
}

export async function publishSessionEvents(bus: EventBus, events: SessionEvent[]): Promise<void> {
  await bus.publishAll(SESSION_EVENTS_CHANNEL, events);
}

export function isSessionEvent(value: unknown): value is SessionEvent {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (v.type === 'created' || v.type === 'revoked') && typeof v.userId === 'string' && typeof v.sessionId === 'string';
}
