// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { z } from 'zod';
import { type AlertView, type SecurityAlertView } from '../schemas/trading.ts';
import { text } from '../schemas/text.ts';
import { recentEvents, tradingEventStream, type EventScope } from '../services/trading-events.ts';
import { toAlertView } from '../services/trading-views.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { appError } from '../errors.ts';
import { accountReaderOf } from './trading.ts';
import {
  acknowledgeSecurityAlert,
  newestSecurityAlertId,
  recentSecurityAlerts,
  securityAlertStream,
  toSecurityAlertView,
} from '../security/alerts/service.ts';
import { mergeStreams } from '../security/alerts/merge.ts';

const view = permissionProcedure('alerts.view');
const KINDS = ['trading', 'security'] as const;
type Kind = (typeof KINDS)[number];

type KindedAlertView = AlertView;

const listInput = z.strictObject({ limit: z.number().int().min(1).max(200).optional(), kind: z.enum(KINDS).optional() }).optional();
// "<trading id>" (as before) or "<trading id>:<security id>": the two kinds have their own id spaces.
const streamInput = z
  .strictObject({ lastEventId: text().regex(/^\d{1,19}(:\d{1,19})?$/).nullish(), kind: z.enum(KINDS).optional() })
  .optional();
const ackInput = z.strictObject({ id: text().regex(/^s?\d{1,19}$/, 'An alert id') });

function alertScope(reader: { userId: string; allAccounts: boolean }): EventScope {
  return { kind: 'alert', ownerId: reader.allAccounts ? null : reader.userId, includeDeskWide: true };
}

function securityView(a: SecurityAlertView, event: 'raised' | 'acknowledged' = 'raised'): KindedAlertView {
  return {
    kind: 'security',
    category: 'security',
    id: `s${a.id}`,
    at: a.createdAt,
    severity: a.severity === 'LOW' ? 'info' : a.severity === 'MEDIUM' ? 'warning' : 'critical',
    ownerId: null,
    rule: a.type,
    message: `${a.title}: ${a.message}`,
    orderId: null,
    symbol: null,
    security: a,
    event,
  };
}

function wants(ctx: { principal: { permissions: ReadonlySet<string> } }, kind: Kind | undefined, k: Kind): boolean {
  if (kind && kind !== k) return false;
  return k === 'trading' || ctx.principal.permissions.has('security.manage');
}

export const alertsRouter = router({
  /** The newest alerts first: trading (one's own and the desk's, or every account's with accounts.view) and, with security.manage, security. */
  list: view.input(listInput).query(async ({ ctx, input }) => {
    const limit = input?.limit ?? 50;
    const out: KindedAlertView[] = [];
    if (wants(ctx, input?.kind, 'trading')) {
      for (const r of await recentEvents(ctx.deps.db, alertScope(accountReaderOf(ctx)), limit)) out.push(toAlertView(r));
    }
    if (wants(ctx, input?.kind, 'security')) {
      for (const r of await recentSecurityAlerts(ctx.deps.db, limit)) out.push(securityView(toSecurityAlertView(r)));
    }
    return out.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, limit);
  }),

  /**
   * Alerts as they are raised, on any process. Tracked ids are "<trading id>:<security id>", the
   * cursor of both kinds, so a resume after lastEventId replays each kind from its own place.
   */
  onAlert: view.input(streamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<KindedAlertView>> {
    const [t, s] = (input?.lastEventId ?? '').split(':');
    let tCursor = t ? t : ctx.deps.tradingEvents.cursor().toString();
    const withSecurity = wants(ctx, input?.kind, 'security');
    // A fresh stream (or one resuming from a trading-only id) starts the security kind at the newest
    // alert now, and says so in its ids: a resume then replays exactly what came after.
    const securityStart = s ? BigInt(s) : withSecurity ? await newestSecurityAlertId(ctx.deps.db) : 0n;
    let sCursor = securityStart.toString();
    const streams: AsyncGenerator<{ k: Kind; id: string | null; view: KindedAlertView }>[] = [];
    if (wants(ctx, input?.kind, 'trading')) {
      const resumeTrading = t ? { lastEventId: t } : {};
      streams.push(
        (async function* () {
          for await (const e of tradingEventStream(ctx.deps, alertScope(accountReaderOf(ctx)), resumeTrading, signal))
            yield { k: 'trading' as const, id: e.id.toString(), view: toAlertView(e) };
        })(),
      );
    }
    if (withSecurity) {
      streams.push(
        (async function* () {
          for await (const e of securityAlertStream(ctx.deps, securityStart, signal))
            yield { k: 'security' as const, id: e.event === 'raised' ? e.row.id.toString() : null, view: securityView(toSecurityAlertView(e.row), e.event) };
        })(),
      );
    }
    for await (const item of mergeStreams(streams, signal)) {
      if (item.id !== null) {
        if (item.k === 'trading') tCursor = item.id;
        else sCursor = item.id;
      }
      // Without security alerts in the stream, ids stay plain trading ids (as before they existed).
      yield tracked(withSecurity ? `${tCursor}:${sCursor}` : tCursor, item.view);
    }
  }),

  /**
   * Acknowledges an alert; idempotent (a second call answers the first acknowledgement).
   * Security alerts ("s<id>") need security.manage.
   */
  acknowledge: view.input(ackInput).mutation(async ({ ctx, input }) => {
    if (!input.id.startsWith('s')) throw appError('BAD_REQUEST', 'Trading alerts are not acknowledgeable yet');
    if (!ctx.principal.permissions.has('security.manage')) throw appError('FORBIDDEN', 'Acknowledging a security alert needs security.manage');
    const p = ctx.principal;
    const row = await acknowledgeSecurityAlert(ctx.deps, BigInt(input.id.slice(1)), {
      userId: p.userId,
      origin: ctx.origin,
      actorType: p.kind === 'apikey' ? 'apikey' : 'user',
      actorId: p.kind === 'apikey' ? p.apiKeyId : p.userId,
    });
    if (!row) throw appError('NOT_FOUND', 'No such alert');
    return securityView(toSecurityAlertView(row), 'acknowledged');
  }),
});
