import type { ChainedContent } from '../../audit/chain.ts';
import type { RequestOrigin } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import type { Detection } from '../response.ts';
import { eventsFromAuditRow } from './audit-sources.ts';
import { countAndClaim, purgeCounters } from './counter.ts';
import { countEvent, type CountEvent, type DetectionEvent, type EventSource } from './events.ts';
import { createBoundedQueue } from './queue.ts';
import { eventsFromAdminLogin, eventsFromRequest } from './request-features.ts';
import type { DetectionRuleName, DetectionRules } from './rules.ts';
import { watchedIps } from './watch.ts';

export interface DetectorOptions {
  enabled: boolean;
  rules: DetectionRules;
  /** Events held at most; more are dropped (and logged) rather than slowing requests. */
  queueCapacity?: number;
  batchSize?: number;
  /** How often API-call counts are flushed into the shared counter. */
  floodFlushMs?: number;
}

/** What a request, a committed audit row or a rate-limit denial tells detection: pushes only. */
export interface DetectionSink {
  /** Rows this process committed (the audit writer's and sealer's onCommitted). */
  auditCommitted(rows: readonly ChainedContent[]): void;
  /** One procedure call: counted per IP for api_flood; its user agent and raw input checked in the worker. */
  request(call: { origin: RequestOrigin; procedure: string; input: Promise<unknown> | unknown }): void;
  /** One call by an authenticated principal, counted for api_flood. */
  principalCall(principal: { userId: string; apiKeyId: string | null }, origin: RequestOrigin): void;
  /** A 429 answered for this caller. */
  rateLimited(caller: { type: string; id: string | null }, origin: RequestOrigin, policy: string): void;
}

export interface Detector extends DetectionSink {
  start(): void;
  /** Processes everything pushed so far (tests, shutdown). */
  flush(): Promise<void>;
  stop(): Promise<void>;
  /** Events dropped because the queue was full. */
  readonly dropped: number;
}

type Deps = Pick<ApiDeps, 'db' | 'clock' | 'logger' | 'securityResponse'>;
type Clock = ApiDeps['clock'];

const DISTINCT: ReadonlySet<DetectionRuleName> = new Set(['credential_stuffing', 'distributed_brute_force']);
const PURGE_EVERY_MS = 60_000;

/**
 * Intrusion detection's worker. Sources push small events into a bounded in-process queue; the
 * worker drains it in batches, counts in the shared Postgres tables and reports each crossing once.
 * `deps` is read at call time: the detector is built before the deps it reports through.
 */
export function createDetector(deps: () => Deps, opts: DetectorOptions & { logger: ApiDeps['logger']; clock: Clock }): Detector {
  const batchSize = opts.batchSize ?? 500;
  const floodFlushMs = opts.floodFlushMs ?? 1_000;
  const queue = createBoundedQueue<DetectionEvent>(opts.queueCapacity ?? 20_000, opts.logger, 'detection');
  // API calls per key, summed in process and flushed as one weighted event per key.
  let calls = new Map<string, { n: number; source: EventSource }>();
  let running: Promise<void> | null = null;
  let scheduled: NodeJS.Timeout | null = null;
  let floodTimer: NodeJS.Timeout | null = null;
  let lastPurge = 0;
  let stopped = false;
  // Rows committed while the app is still starting wait in the queue until start().
  let started = false;

  function push(event: DetectionEvent): void {
    if (stopped) return;
    queue.push(event);
    schedule();
  }

  function schedule(): void {
    if (!started || scheduled || running) return;
    scheduled = setTimeout(() => {
      scheduled = null;
      void drain();
    }, 20);
    scheduled.unref();
  }

  function drain(): Promise<void> {
    if (running) return running;
    const run = (async () => {
      // Yield first, so `running` is set before the loop can finish and clear it.
      await Promise.resolve();
      try {
        while (queue.size > 0) {
          // One failed batch (the database away) loses its events, not the worker.
          try {
            await processBatch(queue.take(batchSize));
          } catch (err) {
            opts.logger.error({ err }, 'detection batch failed');
          }
        }
      } finally {
        running = null;
      }
    })();
    running = run;
    return run;
  }

  function flushCalls(): void {
    if (calls.size === 0) return;
    const at = opts.clock.now();
    const pending = calls;
    calls = new Map();
    for (const [key, { n, source }] of pending) push(countEvent('api_flood', key, source, at, { weight: n }));
  }

  async function processBatch(batch: DetectionEvent[]): Promise<void> {
    const d = deps();
    const counts: CountEvent[] = [];
    for (const e of batch) {
      try {
        if (e.kind === 'count') counts.push(e);
        else if (e.kind === 'request') counts.push(...(await eventsFromRequest(e)));
        else counts.push(...(await eventsFromAdminLogin(d.db, e)));
      } catch (err) {
        d.logger.error({ err, kind: e.kind }, 'detection event failed');
      }
    }
    if (counts.length > 0) {
      const now = d.clock.now();
      const watched = await watchedIps(d.db, [...new Set(counts.map((c) => c.ip).filter((ip): ip is string => ip !== null))], now);
      const groups = new Map<string, CountEvent[]>();
      for (const c of counts) {
        const id = `${c.rule}|${c.key}`;
        const group = groups.get(id);
        if (group) group.push(c);
        else groups.set(id, [c]);
      }
      for (const group of groups.values()) await countGroup(d, group, watched, now);
    }
    await purgeNow(d);
  }

  async function countGroup(d: Deps, group: CountEvent[], watched: Set<string>, now: Date): Promise<void> {
    const first = group[0]!;
    const rule = opts.rules[first.rule];
    const underWatch = group.some((c) => c.ip !== null && watched.has(c.ip));
    const threshold = underWatch ? Math.min(rule.watchedThreshold, rule.threshold) : rule.threshold;
    try {
      const { fired, count } = await countAndClaim(d.db, group, rule, { threshold, distinct: DISTINCT.has(first.rule), now });
      if (fired) await report(d, group, { count, threshold, underWatch, now });
    } catch (err) {
      d.logger.error({ err, rule: first.rule, key: first.key }, 'detection count failed');
    }
  }

  async function report(d: Deps, group: CountEvent[], c: { count: number; threshold: number; underWatch: boolean; now: Date }): Promise<void> {
    const last = group.at(-1)!;
    const rule = opts.rules[last.rule];
    const pick = <K extends keyof EventSource>(k: K) => group.findLast((e) => e[k] !== null)?.[k] ?? null;
    const detection: Detection = {
      rule: last.rule,
      severity: rule.severity,
      summary: `${rule.description}: ${c.count} in ${rule.windowSeconds}s for ${last.key} (threshold ${c.threshold}${c.underWatch ? ', under watch' : ''})`,
      ip: pick('ip'),
      userId: pick('userId'),
      apiKeyId: pick('apiKeyId'),
      correlationKey: last.key,
      count: c.count,
      threshold: c.threshold,
      windowSeconds: rule.windowSeconds,
      details: { ...last.details, watched: c.underWatch },
      at: c.now,
    };
    const port = d.securityResponse;
    let incidentId: string | null = null;
    try {
      ({ incidentId } = await port.reportDetection(detection));
    } catch (err) {
      d.logger.error({ err, rule: detection.rule }, 'reporting a detection failed');
    }
    try {
      await port.raiseAlert({
        type: 'threshold',
        severity: detection.severity,
        title: `${detection.rule.replaceAll('_', ' ')}: threshold crossed`,
        message: detection.summary,
        incidentId,
        ip: detection.ip,
        userId: detection.userId,
        details: { rule: detection.rule, correlationKey: detection.correlationKey, count: detection.count, threshold: detection.threshold, windowSeconds: detection.windowSeconds },
      });
    } catch (err) {
      d.logger.error({ err, rule: detection.rule }, 'threshold alert failed');
    }
  }

  async function purgeNow(d: Deps): Promise<void> {
    const now = d.clock.now().getTime();
    if (now - lastPurge < PURGE_EVERY_MS) return;
    lastPurge = now;
    const longest = Math.max(...Object.values(opts.rules).map((r) => r.windowSeconds));
    await purgeCounters(d.db, new Date(now - longest * 1000));
  }

  function sourceOf(origin: RequestOrigin, principal: { userId: string; apiKeyId: string | null } | null): EventSource {
    return { ip: origin.ip, userId: principal?.userId ?? null, apiKeyId: principal?.apiKeyId ?? null };
  }

  function addCall(key: string, source: EventSource): void {
    const entry = calls.get(key);
    if (entry) entry.n += 1;
    else calls.set(key, { n: 1, source });
  }

  const sink: DetectionSink = opts.enabled
    ? {
        auditCommitted(rows) {
          for (const row of rows) for (const e of eventsFromAuditRow(row)) push(e);
        },
        request({ origin, procedure, input }) {
          const source = sourceOf(origin, null);
          if (origin.ip) addCall(`ip:${origin.ip}`, source);
          push({ kind: 'request', ...source, userAgent: origin.userAgent, procedure, input, at: opts.clock.now() });
        },
        principalCall(principal, origin) {
          addCall(principal.apiKeyId ? `apikey:${principal.apiKeyId}` : `user:${principal.userId}`, sourceOf(origin, principal));
        },
        rateLimited(caller, origin, policy) {
          const key = caller.type === 'apikey' && caller.id ? `apikey:${caller.id}` : (caller.type === 'user' || caller.type === 'bot') && caller.id ? `user:${caller.id}` : origin.ip ? `ip:${origin.ip}` : null;
          if (!key) return;
          const source = { ip: origin.ip, userId: caller.type === 'user' ? caller.id : null, apiKeyId: caller.type === 'apikey' ? caller.id : null };
          push(countEvent('rate_limited', key, source, opts.clock.now(), { details: { policy } }));
        },
      }
    : { auditCommitted() {}, request() {}, principalCall() {}, rateLimited() {} };

  return {
    ...sink,
    start() {
      started = true;
      schedule();
      if (!opts.enabled || floodTimer) return;
      floodTimer = setInterval(flushCalls, floodFlushMs);
      floodTimer.unref();
    },
    async flush() {
      if (!started) return;
      flushCalls();
      do await drain();
      while (queue.size > 0);
    },
    async stop() {
      if (floodTimer) clearInterval(floodTimer);
      floodTimer = null;
      flushCalls();
      if (scheduled) clearTimeout(scheduled);
      scheduled = null;
      if (started) await drain();
      stopped = true;
    },
    get dropped() {
      return queue.dropped;
    },
  };
}
