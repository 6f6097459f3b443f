import type { AuditRecorder, RequestOrigin } from '../audit/recorder.ts';

export interface DeniedCaller {
  type: 'user' | 'apikey' | 'bot' | 'anonymous';
  id: string | null;
  /** What the limit counted: principal or IP. */
  key: string;
}

interface Window {
  policy: string;
  caller: DeniedCaller;
  origin: RequestOrigin;
  extra: number;
  timer: NodeJS.Timeout;
}

/**
 * Audits rate-limit denials without letting a flood write one row per request: the first denial
 * for a (policy, caller) is written at once; the rest of its window are counted and written as one
 * summary row when the window closes.
 */
export function createDenialAuditor(audit: AuditRecorder, windowMs = 60_000, onDenied?: (policy: string, caller: DeniedCaller, origin: RequestOrigin) => void) {
  const open = new Map<string, Window>();

  function write(w: Pick<Window, 'policy' | 'caller' | 'origin'>, count: number, summary: boolean) {
    return audit.record({
      action: 'ratelimit.denied',
      outcome: 'denied',
      actor: { type: w.caller.type, id: w.caller.id },
      origin: w.origin,
      resource: { type: 'ratelimit', id: w.policy },
      details: { policy: w.policy, limitedBy: w.caller.key, count, summary },
    });
  }

  function close(id: string): Promise<void> | undefined {
    const w = open.get(id);
    if (!w) return undefined;
    open.delete(id);
    clearTimeout(w.timer);
    return w.extra > 0 ? write(w, w.extra, true) : undefined;
  }

  return {
    async denied(policy: string, caller: DeniedCaller, origin: RequestOrigin): Promise<void> {
      // Every denial, coalesced or not: intrusion detection counts them (a push, not awaited).
      onDenied?.(policy, caller, origin);
      const id = `${policy}|${caller.key}`;
      const existing = open.get(id);
      if (existing) {
        existing.extra += 1;
        return;
      }
      const timer = setTimeout(() => void close(id), windowMs);
      timer.unref();
      open.set(id, { policy, caller, origin, extra: 0, timer });
      await write({ policy, caller, origin }, 1, false);
    },
    /** Writes every pending summary now (shutdown). */
    async flush(): Promise<void> {
      await Promise.all([...open.keys()].map((id) => close(id)));
    },
  };
}
