import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { and, asc, eq, inArray, ne, sql, type SQL } from 'drizzle-orm';
import { orders, positions, type Tx } from '@tapevision/db';
import { auditedTransaction } from '../audit/recorder.ts';
import { appError, DetailedCause } from '../errors.ts';
import type { Permission } from '../permissions.ts';
import type { CancelAllResult, FlattenAllResult } from '../schemas/trading.ts';
import { lockAccount } from './order-fills.ts';
import { closePosition } from './position-close.ts';
import type { TradingActor, TradingDeps } from './trading.ts';
import { appendTradingEvents, publishTradingEvent } from './trading-events.ts';
import { toOrderView } from './trading-views.ts';

/** The caller of the kill switch: who they are and what they may do. */
export interface KillSwitchCaller {
  actor: TradingActor;
  permissions: ReadonlySet<Permission>;
}

/** Whose accounts a call reaches: one account, or (null) every account. */
type Scope = { ownerId: string } | null;

/**
 * One's own account by default. Another's, or every account (no userId), needs security.manage:
 * a trader naming someone else is FORBIDDEN, and without userId reaches only their own.
 */
function scopeOf(caller: KillSwitchCaller, input: { userId?: string | undefined } | undefined): Scope {
  const desk = caller.permissions.has('security.manage');
  const own = caller.actor.ownerId;
  if (input?.userId === undefined) return desk ? null : { ownerId: own };
  if (input.userId !== own && !desk) {
    throw appError('FORBIDDEN', "Only the desk's security officers may act on another account", { reason: 'NOT_YOUR_ACCOUNT', permission: 'security.manage' });
  }
  return { ownerId: input.userId };
}

const inScope = (column: typeof orders.ownerId | typeof positions.ownerId, scope: Scope): SQL | undefined => (scope ? eq(column, scope.ownerId) : undefined);
const scopeDetails = (scope: Scope) => ({ scope: scope ? 'account' : 'all', userId: scope?.ownerId ?? null });

/**
 * trading.cancelAll: cancels every working order in scope, in one transaction with its audit row,
 * each account's lock taken (in id order, so two calls cannot deadlock). Nothing working: 0.
 */
export async function cancelAllOrders(deps: TradingDeps, caller: KillSwitchCaller, input: { userId?: string | undefined } | undefined): Promise<CancelAllResult> {
  const scope = scopeOf(caller, input);
  const who = caller.actor;
  const { cancelled, eventId } = await auditedTransaction(deps, async (tx: Tx) => {
    const owners = await tx
      .selectDistinct({ ownerId: orders.ownerId })
      .from(orders)
      .where(and(eq(orders.status, 'working'), inScope(orders.ownerId, scope)))
      .orderBy(asc(orders.ownerId));
    for (const { ownerId } of owners) await lockAccount(tx, ownerId);
    const now = deps.clock.now();
    const ownerIds = owners.map((o) => o.ownerId);
    const rows =
      ownerIds.length === 0
        ? []
        : await tx
            .update(orders)
            .set({ status: 'cancelled', notional: sql`${orders.notional} * ${orders.filledQuantity} / ${orders.quantity}`, updatedAt: now })
            .where(and(eq(orders.status, 'working'), inArray(orders.ownerId, ownerIds)))
            .returning();
    const eventId = await appendTradingEvents(tx, rows.map((o) => ({ kind: 'order' as const, ownerId: o.ownerId, payload: { ...toOrderView(o) }, at: now })));
    // Every press is on the record, even one that found nothing: it is the desk's emergency control.
    await deps.audit.recordIn(tx, {
      action: 'trading.cancel_all',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: scope ? { type: 'account', id: scope.ownerId } : { type: 'desk', id: 'all' },
      details: { ...scopeDetails(scope), cancelled: rows.length, orderIds: rows.slice(0, 200).map((o) => o.id) },
    });
    return { cancelled: rows, eventId };
  });
  await publishTradingEvent(deps.bus, eventId);
  return { cancelled: cancelled.length, orderIds: cancelled.map((o) => o.id) };
}

function reasonOf(err: unknown): string | null {
  if (!(err instanceof TRPCError) || !(err.cause instanceof DetailedCause)) return null;
  const d = err.cause.details;
  return d.reason === 'RISK_REJECTED' ? String(d.rule) : (d.reason ?? null);
}

/**
 * positions.flattenAll: a reduce-only closing market order (positions.close's, split as it splits)
 * for every open position in scope. Works while the engine is stopped and during a lockdown: it
 * only ever takes risk off. A position gone flat meanwhile is skipped; one the desk's rules refuse
 * (no last price) is reported, not thrown, so the rest still close. Nothing open: 0.
 */
export async function flattenAllPositions(deps: TradingDeps, caller: KillSwitchCaller, input: { userId?: string | undefined } | undefined): Promise<FlattenAllResult> {
  const scope = scopeOf(caller, input);
  const open = await deps.db
    .select({ ownerId: positions.ownerId, symbol: positions.symbol, quantity: positions.quantity })
    .from(positions)
    .where(and(ne(positions.quantity, 0), inScope(positions.ownerId, scope)))
    .orderBy(asc(positions.ownerId), asc(positions.symbol));
  const result: FlattenAllResult = { flattened: 0, closes: [], refused: [] };
  for (const p of open) {
    const who: TradingActor = { ...caller.actor, ownerId: p.ownerId, botId: null };
    try {
      const closed = await closePosition(deps, who, { symbol: p.symbol, clientOrderId: `flatten-${randomUUID()}` }, { haltExempt: true });
      result.flattened += 1;
      result.closes.push({ ownerId: p.ownerId, symbol: p.symbol, quantity: p.quantity, orderIds: closed.orders.map((o) => o.id) });
    } catch (err) {
      const reason = reasonOf(err);
      if (reason === 'NO_POSITION') continue;
      if (reason === null) throw err;
      result.refused.push({ ownerId: p.ownerId, symbol: p.symbol, reason });
    }
  }
  await deps.audit.record({
    action: 'positions.flatten_all',
    outcome: result.refused.length === 0 ? 'success' : 'failure',
    actor: caller.actor.actor,
    origin: caller.actor.origin,
    resource: scope ? { type: 'account', id: scope.ownerId } : { type: 'desk', id: 'all' },
    details: { ...scopeDetails(scope), flattened: result.flattened, refused: result.refused, closes: result.closes.slice(0, 200) },
  });
  return result;
}
