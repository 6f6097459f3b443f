import { and, desc, eq, gte, lt, or, type SQL } from 'drizzle-orm';
import { fills, orders, positions } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import type { FillView, OrderView, Page, PositionsSummary, PositionView } from '../schemas/trading.ts';
import { DEFAULT_UNIVERSE, findInstrument, type Instrument } from '../trading/instruments.ts';
import { roundMoney, totalPnl, unrealizedPnl } from '../trading/pnl.ts';
import { toFillView, toOrderView } from './trading-views.ts';

/** Whose data a reader may see: their own account, or (with accounts.view) every account. */
export interface AccountReader {
  userId: string;
  allAccounts: boolean;
}

/**
 * The accounts a query covers: the reader's own unless they may see all; asking for another
 * account without that right is refused the same way whether the account exists or not.
 */
export function accountScope(reader: AccountReader, ownerId: string | undefined): string | null {
  if (reader.allAccounts) return ownerId ?? null;
  if (ownerId !== undefined && ownerId !== reader.userId) throw appError('FORBIDDEN', "You may only see your own account's trading", { reason: 'OTHER_ACCOUNT' });
  return reader.userId;
}

const DEFAULT_PAGE = 50;

/** A page from `limit + 1` rows read: the extra one only says whether another page follows. */
function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string[]): Page<T> {
  const items = rows.slice(0, limit);
  const last = rows.length > limit ? items[items.length - 1] : undefined;
  return { items, nextCursor: last ? encodeCursor(cursorOf(last)) : null };
}

function encodeCursor(parts: string[]): string {
  return Buffer.from(parts.join('|')).toString('base64url');
}

function decodeCursor(cursor: string, count: number): string[] {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== count || parts.some((p) => p.length === 0)) throw appError('BAD_REQUEST', 'Invalid cursor', { reason: 'BAD_CURSOR' });
  return parts;
}

interface CommonFilter {
  cursor?: string | undefined;
  limit?: number | undefined;
  ownerId?: string | undefined;
  symbol?: string | undefined;
  botId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  side?: 'BUY' | 'SELL' | undefined;
}

/** Newest first, keyset-paginated on (created_at, id): stable while orders keep arriving. */
export async function listOrders(
  deps: Pick<ApiDeps, 'db'>,
  reader: AccountReader,
  input: (CommonFilter & { status?: OrderView['status'] | undefined }) | undefined,
): Promise<Page<OrderView>> {
  const f = input ?? {};
  const owner = accountScope(reader, f.ownerId);
  const limit = f.limit ?? DEFAULT_PAGE;
  const where: (SQL | undefined)[] = [
    owner ? eq(orders.ownerId, owner) : undefined,
    f.symbol ? eq(orders.symbol, f.symbol) : undefined,
    f.botId ? eq(orders.botId, f.botId) : undefined,
    f.status ? eq(orders.status, f.status) : undefined,
    f.side ? eq(orders.side, f.side) : undefined,
    f.from ? gte(orders.createdAt, new Date(f.from)) : undefined,
    f.to ? lt(orders.createdAt, new Date(f.to)) : undefined,
  ];
  if (f.cursor) {
    const [at, id] = decodeCursor(f.cursor, 2) as [string, string];
    const time = new Date(at);
    if (Number.isNaN(time.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw appError('BAD_REQUEST', 'Invalid cursor', { reason: 'BAD_CURSOR' });
    where.push(or(lt(orders.createdAt, time), and(eq(orders.createdAt, time), lt(orders.id, id))));
  }
  const rows = await deps.db
    .select()
    .from(orders)
    .where(and(...where))
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(limit + 1);
  return pageOf(rows.map(toOrderView), limit, (last) => [last.createdAt, last.id]);
}

/** Fills newest first, keyset-paginated on their id. */
export async function listTrades(deps: Pick<ApiDeps, 'db'>, reader: AccountReader, input: CommonFilter | undefined): Promise<Page<FillView>> {
  const f = input ?? {};
  const owner = accountScope(reader, f.ownerId);
  const limit = f.limit ?? DEFAULT_PAGE;
  const where: (SQL | undefined)[] = [
    owner ? eq(fills.ownerId, owner) : undefined,
    f.symbol ? eq(fills.symbol, f.symbol) : undefined,
    f.botId ? eq(fills.botId, f.botId) : undefined,
    f.side ? eq(fills.side, f.side) : undefined,
    f.from ? gte(fills.at, new Date(f.from)) : undefined,
    f.to ? lt(fills.at, new Date(f.to)) : undefined,
  ];
  if (f.cursor) {
    const [id] = decodeCursor(f.cursor, 1) as [string];
    if (!/^\d{1,19}$/.test(id)) throw appError('BAD_REQUEST', 'Invalid cursor', { reason: 'BAD_CURSOR' });
    where.push(lt(fills.id, BigInt(id)));
  }
  const rows = await deps.db
    .select()
    .from(fills)
    .where(and(...where))
    .orderBy(desc(fills.id))
    .limit(limit + 1);
  return pageOf(rows.map(toFillView), limit, (last) => [last.id]);
}

/** Positions marked at the tape's last prices, with realised, unrealised and total P&L. */
export async function listPositions(
  deps: Pick<ApiDeps, 'db' | 'market'>,
  reader: AccountReader,
  input: { ownerId?: string | undefined } | undefined,
  universe: readonly Instrument[] = DEFAULT_UNIVERSE,
): Promise<PositionsSummary> {
  const owner = accountScope(reader, input?.ownerId);
  const rows = await deps.db
    .select()
    .from(positions)
    .where(owner ? eq(positions.ownerId, owner) : undefined)
    .orderBy(positions.ownerId, positions.symbol);
  const prices = new Map(deps.market.lastPrices().map((p) => [p.symbol, p.price]));
  const views: PositionView[] = [];
  for (const row of rows) {
    const instrument = findInstrument(universe, row.symbol);
    if (!instrument) continue;
    const lastPrice = prices.get(row.symbol) ?? null;
    views.push({
      ownerId: row.ownerId,
      symbol: row.symbol,
      quantity: row.quantity,
      averagePrice: row.averagePrice,
      lastPrice,
      realizedPnl: roundMoney(row.realizedPnl),
      unrealizedPnl: lastPrice === null ? 0 : unrealizedPnl(row, lastPrice, instrument),
      updatedAt: row.updatedAt.toISOString(),
    });
  }
  const totals = totalPnl(rows.filter((r) => findInstrument(universe, r.symbol)), universe, (s) => prices.get(s) ?? undefined);
  return { positions: views, totals };
}
