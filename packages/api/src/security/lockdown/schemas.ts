import { z } from 'zod';
import { text } from '../../schemas/text.ts';

// Browser-safe (the SPA's forms validate with these): no database imports here.
const reason = text().trim().min(1).max(1_000);

export const lockdownInput = z.strictObject({ reason });
export const liftLockdownInput = z.strictObject({ reason });
export const lockdownStatusStreamInput = z.strictObject({ lastEventId: text().regex(/^\d{1,19}$/).nullish() }).optional();

export interface LockdownPerson {
  id: string;
  email: string | null;
}

export interface LockdownView {
  id: string;
  reason: string;
  /** Null when the system engaged it (an incident's automated response). */
  engagedBy: LockdownPerson | null;
  engagedAt: string;
  incidentId: string | null;
  liftedBy: LockdownPerson | null;
  liftedAt: string | null;
  liftReason: string | null;
}

/** security.status: whether a lockdown holds, since when, why and by whom. */
export interface LockdownStatus {
  active: boolean;
  since: string | null;
  reason: string | null;
  engagedBy: LockdownPerson | null;
  /** The lockdown in force, when one is. */
  lockdown: LockdownView | null;
}

/** One security.onStatus event: a lockdown engaged or lifted, with the status it left. */
export interface LockdownStatusEvent {
  id: string;
  kind: 'engaged' | 'lifted';
  at: string;
  lockdown: LockdownView;
  status: LockdownStatus;
}

/** security.lockdown's answer: what it did. */
export interface LockdownEngaged {
  status: LockdownStatus;
  sessionsEnded: number;
  apiKeysSuspended: number;
  botsStopped: number;
}

export interface LockdownLifted {
  status: LockdownStatus;
  lockdown: LockdownView;
  apiKeysRestored: number;
}
