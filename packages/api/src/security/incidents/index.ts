import type { ApiDeps } from '../../deps.ts';
import type { SecurityResponse } from '../response.ts';
import { endSessionsOf } from './end-sessions.ts';
import { reportDetection, type IncidentResponseOptions } from './report-detection.ts';

export type { IncidentResponseOptions } from './report-detection.ts';
export { RESPONSE_DURATIONS_MS } from './response-plan.ts';
export type { IncidentView, TimelineView } from './store.ts';
export type { IncidentEvent } from './stream.ts';
export type { IncidentDetail, IncidentReport } from './service.ts';

/**
 * The incidents' part of the security response port. `deps` is read at call time: the port is
 * built inside the deps it acts through.
 */
export function incidentResponseParts(deps: () => ApiDeps, opts: IncidentResponseOptions): Pick<SecurityResponse, 'reportDetection' | 'endSessionsOf'> {
  return {
    reportDetection: (detection) => reportDetection(deps(), opts, detection),
    endSessionsOf: (input) => endSessionsOf(deps(), input),
  };
}

export type SecurityActionRecorder = (action: keyof SecurityResponse, input: unknown) => unknown;

/**
 * Tests: tells `record` of every action asked of the port (before it runs); when `record` returns
 * something, that is the action's answer instead (a refused block, say).
 */
export function recordingSecurityResponse(port: SecurityResponse, record: SecurityActionRecorder): SecurityResponse {
  const wrapped = {} as Record<string, (input: unknown) => Promise<unknown>>;
  for (const [name, fn] of Object.entries(port) as [keyof SecurityResponse, (input: unknown) => Promise<unknown>][]) {
    wrapped[name] = async (input) => {
      const answer = record(name, input);
      return answer === undefined ? fn(input) : answer;
    };
  }
  return wrapped as unknown as SecurityResponse;
}
