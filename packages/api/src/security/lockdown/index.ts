import type { ApiDeps } from '../../deps.ts';
import type { SecurityResponse } from '../response.ts';
import { engageLockdownForIncident } from './service.ts';

export type { LockdownEngaged, LockdownLifted, LockdownStatus, LockdownStatusEvent, LockdownView } from './schemas.ts';
export { LOCKDOWN_EVENTS_CHANNEL } from './stream.ts';

/** The lockdown's part of the security response port; `deps` is read at call time, as incidents' is. */
export function lockdownResponseParts(deps: () => ApiDeps): Pick<SecurityResponse, 'lockdown'> {
  return { lockdown: (input) => engageLockdownForIncident(deps(), input) };
}
