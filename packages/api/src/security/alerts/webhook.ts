import { createHmac } from 'node:crypto';
import { and, asc, eq, isNull, lte, sql } from 'drizzle-orm';
import { securityAlerts, securityWebhookOutbox, type DatabaseHandle, type SecurityAlertRow } from '@tapevision/db';
import type { Logger } from 'pino';
import type { Clock } from '../../deps.ts';
import { createLeaderLoop, type LeaderLoop } from '../../services/leader-loop.ts';
import { SECURITY_ALERTS_CHANNEL } from './service.ts';

export interface SecurityWebhookConfig {
  /** SECURITY_WEBHOOK_URL; no delivery when empty (the outbox still fills, and drains once set). */
  url: string | undefined;
  /** SECURITY_WEBHOOK_SECRET: the HMAC key of X-TapeVision-Signature. */
  secret: string | undefined;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often the leader looks for due deliveries without a notice. */
  pollMs: number;
}

export const defaultSecurityWebhookConfig: SecurityWebhookConfig = {
  url: undefined,
  secret: undefined,
  timeoutMs: 5_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  pollMs: 2_000,
};

const WEBHOOK_LOCK = 7_401_236_132;

/** The Slack-compatible body: `text` for any receiver, `blocks` for Slack. */
export function webhookBody(a: SecurityAlertRow): string {
  const text = `[${a.severity}] ${a.title}: ${a.message}${a.ip ? ` (ip ${a.ip})` : ''}`;
  const fields = [`*Severity:* ${a.severity}`, `*Type:* ${a.type}`, ...(a.ip ? [`*IP:* ${a.ip}`] : []), ...(a.incidentId ? [`*Incident:* /security?incident=${a.incidentId}`] : [])];
  return JSON.stringify({
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: a.title.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: a.message } },
      { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn', text: f })) },
    ],
    alert: {
      id: a.id.toString(),
      type: a.type,
      severity: a.severity,
      title: a.title,
      message: a.message,
      ip: a.ip,
      incidentId: a.incidentId,
      incidentPath: a.incidentId ? `/security?incident=${a.incidentId}` : null,
      createdAt: a.createdAt.toISOString(),
    },
  });
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export function backoffMs(cfg: Pick<SecurityWebhookConfig, 'backoffBaseMs' | 'backoffMaxMs'>, attempts: number): number {
  return Math.min(cfg.backoffMaxMs, cfg.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * Delivers the outbox in id order from the one process holding the lock: the oldest undelivered
 * row goes first and a failure waits (backoff) before anything behind it, so order holds.
 */
export function createSecurityWebhookWorker(opts: { database: DatabaseHandle; clock: Clock; logger: Logger; config: SecurityWebhookConfig }): LeaderLoop {
  const { database, clock, logger, config } = opts;
  const db = database.db;
  async function deliverDue() {
    if (!config.url) return;
    for (;;) {
      const [head] = await db
        .select({ outbox: securityWebhookOutbox, alert: securityAlerts })
        .from(securityWebhookOutbox)
        .innerJoin(securityAlerts, eq(securityAlerts.id, securityWebhookOutbox.alertId))
        .where(isNull(securityWebhookOutbox.deliveredAt))
        .orderBy(asc(securityWebhookOutbox.id))
        .limit(1);
      if (!head || head.outbox.nextAttemptAt > clock.now()) return;
      const body = webhookBody(head.alert);
      const t = Math.floor(clock.now().getTime() / 1000);
      let error: string | null = null;
      try {
        const res = await fetch(config.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-tapevision-timestamp': String(t),
            ...(config.secret ? { 'x-tapevision-signature': signWebhook(config.secret, body, t) } : {}),
          },
          body,
          signal: AbortSignal.timeout(config.timeoutMs),
          redirect: 'error',
        });
        await res.body?.cancel();
        if (!res.ok) error = `HTTP ${res.status}`;
      } catch (err) {
        error = err instanceof Error ? `${err.name}: ${(err.cause as Error | undefined)?.message ?? err.message}`.slice(0, 300) : 'delivery failed';
      }
      const attempts = head.outbox.attempts + 1;
      if (error === null) {
        await db.update(securityWebhookOutbox).set({ attempts, deliveredAt: clock.now(), lastError: null }).where(eq(securityWebhookOutbox.id, head.outbox.id));
        continue;
      }
      const next = new Date(clock.now().getTime() + backoffMs(config, attempts));
      await db
        .update(securityWebhookOutbox)
        .set({ attempts, lastError: error, nextAttemptAt: next })
        .where(and(eq(securityWebhookOutbox.id, head.outbox.id), lte(securityWebhookOutbox.attempts, sql`${attempts}`)));
      logger.warn({ outboxId: head.outbox.id.toString(), attempts, error }, 'security webhook delivery failed; retrying with backoff');
      return;
    }
  }
  return createLeaderLoop({
    name: 'security webhook',
    database,
    lockKey: WEBHOOK_LOCK,
    bus: database.bus,
    channels: [SECURITY_ALERTS_CHANNEL],
    retryMs: config.pollMs,
    logger,
    role: { lead: () => {}, tick: deliverDue, stepDown: async () => {} },
  });
}
