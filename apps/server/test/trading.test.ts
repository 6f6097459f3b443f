/**
 * The order path through the real stack: trading.execute, cancel, orders, trades, positions and
 * alerts over HTTP and WebSocket, on the real database. Prices are set by putting prints on the
 * tape (support/trading.ts), so every fill price below is known.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, sql } from '@tapevision/db';
import type { AlertView, FillView, OrderView } from '@tapevision/api/schemas';
import { errorData, httpClient, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { auditRows, waitFor } from './support/session-helpers.ts';
import { MANY_ORDERS, openDesk, printOnTape, ticket, type Desk } from './support/trading.ts';

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function socket(server: TestServer, token: string): WsTestClient {
  const ws = wsClient(server, { token });
  sockets.push(ws);
  return ws;
}

function collect<T>() {
  const events: { id: string; data: T }[] = [];
  const errors: unknown[] = [];
  return { events, errors, onData: (e: unknown) => events.push(e as { id: string; data: T }), onError: (e: unknown) => errors.push(e) };
}

async function countRows(server: TestServer, table: string, where = 'true'): Promise<number> {
  const [row] = await queryRows<{ n: number }>(server.app.deps.db, sql.raw(`select count(*)::int as n from ${table} where ${where}`));
  return row!.n;
}

describe('trading on one server', () => {
  let server: TestServer;
  let desk: Desk;

  beforeAll(async () => {
    server = await startTestServer({ market: { printsPerSecond: 20, seed: 7 }, rateLimits: MANY_ORDERS });
    desk = await openDesk(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('fills a market order at the last price plus slippage, books the position, and audits it', async () => {
    await printOnTape(server, 'ES', 5000);
    const order = await desk.alice.client.trading.execute.mutate(ticket({ action: 'BUY', symbol: 'ES', quantity: 2 }));
    expect(order).toMatchObject({ status: 'filled', side: 'BUY', symbol: 'ES', quantity: 2, filledQuantity: 2, averageFillPrice: 5000.25, ownerId: desk.alice.id, placedBy: `user:${desk.alice.id}`, rejectRule: null });

    await printOnTape(server, 'ES', 5010);
    const { positions, totals } = await desk.alice.client.positions.list.query();
    expect(positions).toEqual([expect.objectContaining({ symbol: 'ES', quantity: 2, averagePrice: 5000.25, lastPrice: 5010, realizedPnl: 0, unrealizedPnl: 975 })]);
    expect(totals).toEqual({ realized: 0, unrealized: 975, total: 975 });

    const sold = await desk.alice.client.trading.execute.mutate(ticket({ action: 'SELL', symbol: 'ES', quantity: 1 }));
    expect(sold.averageFillPrice).toBe(5009.75);
    const after = await desk.alice.client.positions.list.query();
    expect(after.positions[0]).toMatchObject({ quantity: 1, realizedPnl: 475, unrealizedPnl: 487.5 });

    const trades = await desk.alice.client.trading.trades.query();
    expect(trades.items.map((f) => [f.side, f.price, f.quantity, f.orderId])).toEqual([
      ['SELL', 5009.75, 1, sold.id],
      ['BUY', 5000.25, 2, order.id],
    ]);
    const audited = await auditRows(server, ['trade.executed']);
    const mine = audited.filter((r) => r.resourceId === order.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ actorType: 'user', actorId: desk.alice.id, outcome: 'success' });
    expect(mine[0]!.details).toMatchObject({ symbol: 'ES', side: 'BUY', quantity: 2, fillPrice: 5000.25, clientOrderId: order.clientOrderId });
  });

  it('answers a retried clientOrderId with the first order, even when the retries race', async () => {
    await printOnTape(server, 'NQ', 18000);
    const t = ticket({ symbol: 'NQ', quantity: 3 });
    const batched = httpClient(server, { token: desk.bob.token });
    const separate = () => httpClient(server, { token: desk.bob.token, batch: false });
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => batched.trading.execute.mutate(t)),
      ...Array.from({ length: 6 }, () => separate().trading.execute.mutate(t)),
    ]);
    const ids = new Set(results.map((r) => r.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(await countRows(server, 'orders', `client_order_id = '${t.clientOrderId}'`)).toBe(1);
    expect(await countRows(server, 'fills', `order_id = '${id}'`)).toBe(1);
    const positions = await desk.bob.client.positions.list.query();
    expect(positions.positions.find((p) => p.symbol === 'NQ')?.quantity).toBe(3);
    expect((await auditRows(server, ['trade.executed'])).filter((r) => r.resourceId === id)).toHaveLength(1);

    // The same id with other fields is a different order: refused, nothing placed.
    const reused = await rejectionOf(desk.bob.client.trading.execute.mutate({ ...t, quantity: 4 }));
    expect(errorData(reused)).toMatchObject({ code: 'CONFLICT', reason: 'CLIENT_ORDER_ID_REUSED' });
    expect(await countRows(server, 'orders', `client_order_id = '${t.clientOrderId}'`)).toBe(1);
    // The id is per account: another trader may use it for their own order.
    const alices = await desk.alice.client.trading.execute.mutate(t);
    expect(alices.id).not.toBe(id);
  });

  it('refuses bad tickets with a typed error and changes nothing', async () => {
    const before = await countRows(server, 'orders');
    const bad: unknown[] = [
      { ...ticket(), action: 'HOLD' },
      { ...ticket(), quantity: 1.5 },
      { ...ticket(), quantity: 0 },
      { ...ticket(), reason: 'why' },
      { ...ticket(), reason: 'x'.repeat(501) },
      { ...ticket(), confidence: 101 },
      { ...ticket({ type: 'limit' }) },
      { ...ticket(), price: 5000 },
      { ...ticket(), clientOrderId: '' },
      { ...ticket(), clientOrderId: 'has spaces' },
      { ...ticket(), extra: true },
      { ...ticket(), symbol: 'ES; drop table orders' },
    ];
    for (const input of bad) {
      const err = await rejectionOf(desk.alice.client.trading.execute.mutate(input as never));
      expect(errorData(err).code, JSON.stringify(input)).toBe('BAD_REQUEST');
      expect(JSON.stringify(err.data)).not.toMatch(/stack|select |insert /i);
    }
    const offTick = await rejectionOf(desk.alice.client.trading.execute.mutate(ticket({ type: 'limit', price: 5000.1 })));
    expect(errorData(offTick)).toMatchObject({ code: 'BAD_REQUEST', reason: 'OFF_TICK' });
    expect(await countRows(server, 'orders')).toBe(before);
  });

  it('rejects on each risk rule with the rule named, stores the rejection, raises an alert and audits it', async () => {
    await printOnTape(server, 'CL', 78.5);
    const alerts = collect<AlertView>();
    const ws = socket(server, desk.alice.token);
    ws.trpc.alerts.onAlert.subscribe(undefined, alerts);
    await new Promise((r) => setTimeout(r, 200));

    const cases: [Parameters<typeof ticket>[0], string, string][] = [
      [{ symbol: 'ZZ' }, 'symbol_not_in_universe', 'BAD_REQUEST'],
      [{ quantity: 101 }, 'quantity_out_of_range', 'BAD_REQUEST'],
      [{ symbol: 'CL', type: 'limit', price: 90 }, 'limit_price_out_of_band', 'BAD_REQUEST'],
      [{ symbol: 'CL', quantity: 60 }, 'max_position_per_symbol', 'PRECONDITION_FAILED'],
    ];
    for (const [over, rule, code] of cases) {
      const t = ticket(over);
      const err = await rejectionOf(desk.alice.client.trading.execute.mutate(t));
      expect(errorData(err), rule).toMatchObject({ code, reason: 'RISK_REJECTED', rule });
      const orderId = errorData(err).orderId as string;
      const [row] = await queryRows<{ status: string; reject_rule: string }>(server.app.deps.db, sql`select status, reject_rule from orders where id = ${orderId}`);
      expect(row).toEqual({ status: 'rejected', reject_rule: rule });
      // A retry answers the same rejection, and places nothing.
      expect(errorData(await rejectionOf(desk.alice.client.trading.execute.mutate(t)))).toMatchObject({ rule, orderId });
    }
    await waitFor(() => alerts.events.length >= cases.length, 5_000, 'an alert per rejection');
    expect(alerts.errors).toEqual([]);
    expect(alerts.events.map((e) => e.data.rule)).toEqual(cases.map((c) => c[1]));
    expect(alerts.events.every((e) => e.data.category === 'trading' && e.data.ownerId === desk.alice.id)).toBe(true);
    const listed = await desk.alice.client.alerts.list.query({ limit: 10 });
    expect(listed.slice(0, cases.length).map((a) => a.rule)).toEqual(cases.map((c) => c[1]).reverse());
    // Bob sees none of Alice's alerts.
    expect((await desk.bob.client.alerts.list.query()).some((a) => a.ownerId === desk.alice.id)).toBe(false);
    const rejected = (await auditRows(server, ['trade.rejected'])).filter((r) => r.actorId === desk.alice.id);
    expect(rejected.map((r) => (r.details as { rule: string }).rule)).toEqual(cases.map((c) => c[1]));
    expect(rejected.every((r) => r.outcome === 'failure')).toBe(true);
  });

  it('holds the position limit when orders race each other', async () => {
    await desk.admin.client.system.configure.mutate({ maxPositionPerSymbol: 5 });
    try {
      const trader = desk.bob;
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => httpClient(server, { token: trader.token, batch: false }).trading.execute.mutate(ticket({ symbol: 'CL', quantity: 1 }))),
      );
      const filled = results.filter((r) => r.status === 'fulfilled');
      expect(filled).toHaveLength(5);
      for (const r of results) if (r.status === 'rejected') expect(errorData(r.reason)).toMatchObject({ rule: 'max_position_per_symbol' });
      const { positions } = await trader.client.positions.list.query();
      expect(positions.find((p) => p.symbol === 'CL')?.quantity).toBe(5);
      // Reducing is always allowed, even at the limit.
      const reduce = await trader.client.trading.execute.mutate(ticket({ symbol: 'CL', action: 'SELL', quantity: 5 }));
      expect(reduce.status).toBe('filled');
    } finally {
      await desk.admin.client.system.configure.mutate({ maxPositionPerSymbol: 50 });
    }
  });

  it('keeps each account to its daily notional limit', async () => {
    await printOnTape(server, 'ES', 5000);
    // One ES contract at 5000 is 250,000 of notional; Alice has traded ES today already.
    await desk.admin.client.system.configure.mutate({ maxDailyNotionalPerUser: 2_000_000 });
    try {
      const trader = desk.bob;
      const err = await rejectionOf(trader.client.trading.execute.mutate(ticket({ symbol: 'ES', quantity: 9 })));
      expect(errorData(err)).toMatchObject({ code: 'PRECONDITION_FAILED', rule: 'max_daily_notional' });
    } finally {
      await desk.admin.client.system.configure.mutate({ maxDailyNotionalPerUser: 10_000_000 });
    }
  });

  it('rests a limit order until the tape crosses it, then fills it at the crossing print', async () => {
    await printOnTape(server, 'ES', 5000);
    const orders = collect<OrderView>();
    const fills = collect<FillView>();
    const ws = socket(server, desk.alice.token);
    ws.trpc.trading.onOrder.subscribe(undefined, orders);
    ws.trpc.trading.onTrade.subscribe(undefined, fills);
    await new Promise((r) => setTimeout(r, 200));

    const resting = await desk.alice.client.trading.execute.mutate(ticket({ type: 'limit', price: 4990, quantity: 2 }));
    expect(resting).toMatchObject({ status: 'working', limitPrice: 4990, filledQuantity: 0, averageFillPrice: null });
    await printOnTape(server, 'ES', 4995);
    await new Promise((r) => setTimeout(r, 300));
    expect((await desk.alice.client.trading.orders.query({ status: 'working' })).items.map((o) => o.id)).toContain(resting.id);

    await waitFor(() => server.app.orderMatcher.leading, 5_000, 'the matcher to lead');
    await printOnTape(server, 'ES', 4989.5);
    await waitFor(() => fills.events.some((e) => e.data.orderId === resting.id), 10_000, 'the limit fill');
    const fill = fills.events.find((e) => e.data.orderId === resting.id)!.data;
    expect(fill).toMatchObject({ side: 'BUY', price: 4989.5, quantity: 2, ownerId: desk.alice.id });
    await waitFor(() => orders.events.some((e) => e.data.id === resting.id && e.data.status === 'filled'), 5_000, 'the filled update');
    expect(orders.events.filter((e) => e.data.id === resting.id).map((e) => e.data.status)).toEqual(['working', 'filled']);
    expect(orders.errors).toEqual([]);
    // A filled order cannot be cancelled.
    const late = await rejectionOf(desk.alice.client.trading.cancel.mutate({ orderId: resting.id }));
    expect(errorData(late)).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'ORDER_NOT_WORKING', status: 'filled' });
  });

  it('cancels a working order, which then never fills, and audits the cancel', async () => {
    await printOnTape(server, 'ES', 5000);
    const resting = await desk.alice.client.trading.execute.mutate(ticket({ type: 'limit', price: 4980, action: 'BUY' }));
    const cancelled = await desk.alice.client.trading.cancel.mutate({ orderId: resting.id });
    expect(cancelled).toMatchObject({ id: resting.id, status: 'cancelled' });
    await printOnTape(server, 'ES', 4975);
    await new Promise((r) => setTimeout(r, 500));
    expect(await countRows(server, 'fills', `order_id = '${resting.id}'`)).toBe(0);
    expect((await auditRows(server, ['order.cancelled'])).filter((r) => r.resourceId === resting.id)).toHaveLength(1);
    const again = await rejectionOf(desk.alice.client.trading.cancel.mutate({ orderId: resting.id }));
    expect(errorData(again)).toMatchObject({ code: 'PRECONDITION_FAILED', status: 'cancelled' });
  });

  it('never lets a trader read, cancel or close another account, whatever id is sent, over HTTP, a batch or WebSocket', async () => {
    await printOnTape(server, 'ES', 5000);
    const alicesOrder = await desk.alice.client.trading.execute.mutate(ticket({ type: 'limit', price: 4950 }));
    const bob = desk.bob;
    const missing = '00000000-0000-4000-8000-000000000000';

    // Cancel: someone else's order answers exactly like one that does not exist.
    const other = await rejectionOf(bob.client.trading.cancel.mutate({ orderId: alicesOrder.id }));
    const none = await rejectionOf(bob.client.trading.cancel.mutate({ orderId: missing }));
    expect(errorData(other)).toMatchObject({ code: 'NOT_FOUND' });
    expect(other.message).toBe(none.message);
    const batch = httpClient(server, { token: bob.token });
    const [a, b] = await Promise.allSettled([batch.trading.cancel.mutate({ orderId: alicesOrder.id }), batch.trading.orders.query({ ownerId: desk.alice.id })]);
    expect(a.status === 'rejected' && errorData(a.reason).code).toBe('NOT_FOUND');
    expect(b.status === 'rejected' && errorData(b.reason).code).toBe('FORBIDDEN');
    const ws = socket(server, bob.token);
    expect(errorData(await rejectionOf(ws.trpc.trading.cancel.mutate({ orderId: alicesOrder.id }))).code).toBe('NOT_FOUND');
    expect(errorData(await rejectionOf(ws.trpc.positions.list.query({ ownerId: desk.alice.id }))).code).toBe('FORBIDDEN');
    expect(errorData(await rejectionOf(bob.client.trading.trades.query({ ownerId: desk.alice.id }))).code).toBe('FORBIDDEN');
    expect(errorData(await rejectionOf(bob.client.positions.list.query({ ownerId: missing }))).code).toBe('FORBIDDEN');

    // Lists hold only Bob's own rows.
    const orders = await bob.client.trading.orders.query({ limit: 200 });
    expect(orders.items.length).toBeGreaterThan(0);
    expect(orders.items.every((o) => o.ownerId === bob.id)).toBe(true);
    expect((await bob.client.trading.trades.query({ limit: 200 })).items.every((f) => f.ownerId === bob.id)).toBe(true);
    expect((await bob.client.positions.list.query()).positions.every((p) => p.ownerId === bob.id)).toBe(true);
    // positions.close acts on the caller's own account only: Bob's close never touches Alice's ES.
    const aliceEs = (await desk.alice.client.positions.list.query()).positions.find((p) => p.symbol === 'ES')!.quantity;
    await bob.client.positions.close.mutate({ symbol: 'ES' }).catch(() => undefined);
    expect((await desk.alice.client.positions.list.query()).positions.find((p) => p.symbol === 'ES')!.quantity).toBe(aliceEs);
    // The order itself is untouched.
    expect((await desk.alice.client.trading.orders.query({ status: 'working' })).items.map((o) => o.id)).toContain(alicesOrder.id);

    // Streams carry only the subscriber's own events.
    const bobsFills = collect<FillView>();
    const bobsOrders = collect<OrderView>();
    ws.trpc.trading.onTrade.subscribe(undefined, bobsFills);
    ws.trpc.trading.onOrder.subscribe(undefined, bobsOrders);
    await new Promise((r) => setTimeout(r, 200));
    await desk.alice.client.trading.execute.mutate(ticket());
    const mine = await bob.client.trading.execute.mutate(ticket());
    await waitFor(() => bobsFills.events.some((e) => e.data.orderId === mine.id), 5_000, "Bob's own fill");
    expect(bobsFills.events.every((e) => e.data.ownerId === bob.id)).toBe(true);
    expect(bobsOrders.events.every((e) => e.data.ownerId === bob.id)).toBe(true);
  });

  it('lets a viewer see every account but act on none', async () => {
    const viewer = desk.viewer;
    const orders = await viewer.client.trading.orders.query({ limit: 200 });
    const owners = new Set(orders.items.map((o) => o.ownerId));
    expect(owners.has(desk.alice.id) && owners.has(desk.bob.id)).toBe(true);
    expect((await viewer.client.trading.orders.query({ ownerId: desk.alice.id })).items.every((o) => o.ownerId === desk.alice.id)).toBe(true);
    expect((await viewer.client.positions.list.query()).positions.length).toBeGreaterThan(1);
    for (const call of [
      viewer.client.trading.execute.mutate(ticket()),
      viewer.client.trading.cancel.mutate({ orderId: orders.items[0]!.id }),
      viewer.client.positions.close.mutate({ symbol: 'ES' }),
    ]) {
      expect(errorData(await rejectionOf(call)).code).toBe('FORBIDDEN');
    }
  });

  it('pages orders and trades newest first with a keyset cursor that holds while new ones arrive', async () => {
    const trader = desk.bob;
    for (let k = 0; k < 5; k++) await trader.client.trading.execute.mutate(ticket({ symbol: 'NQ', action: k % 2 ? 'SELL' : 'BUY' }));
    const first = await trader.client.trading.orders.query({ symbol: 'NQ', limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    await trader.client.trading.execute.mutate(ticket({ symbol: 'NQ' }));
    const seen = [...first.items];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await trader.client.trading.orders.query({ symbol: 'NQ', limit: 2, cursor });
      seen.push(...page.items);
      cursor = page.nextCursor;
    }
    const all = await trader.client.trading.orders.query({ symbol: 'NQ', limit: 200 });
    // Every order that existed at the first page, once each, newest first; the new one is not repeated.
    expect(seen.map((o) => o.id)).toEqual(all.items.slice(1).map((o) => o.id));
    const trades = await trader.client.trading.trades.query({ symbol: 'NQ', limit: 3 });
    const rest = await trader.client.trading.trades.query({ symbol: 'NQ', limit: 200, cursor: trades.nextCursor! });
    const ids = [...trades.items, ...rest.items].map((f) => BigInt(f.id));
    expect(ids).toEqual([...ids].sort((x, y) => (y > x ? 1 : -1)));
    expect(errorData(await rejectionOf(trader.client.trading.orders.query({ cursor: 'bm90LWEtY3Vyc29y' }))).code).toBe('BAD_REQUEST');
  });

  it('closes a position with positions.close; a retried close answers the first', async () => {
    const trader = desk.bob;
    await printOnTape(server, 'CL', 80);
    await trader.client.trading.execute.mutate(ticket({ symbol: 'CL', action: 'SELL', quantity: 3 }));
    const before = (await trader.client.positions.list.query()).positions.find((p) => p.symbol === 'CL')!;
    expect(before.quantity).toBeLessThan(0);
    const close = await trader.client.positions.close.mutate({ symbol: 'CL', clientOrderId: 'close-cl-1' });
    expect(close).toMatchObject({ side: 'BUY', quantity: Math.abs(before.quantity), status: 'filled' });
    expect((await trader.client.positions.list.query()).positions.find((p) => p.symbol === 'CL')!.quantity).toBe(0);
    expect((await trader.client.positions.close.mutate({ symbol: 'CL', clientOrderId: 'close-cl-1' })).id).toBe(close.id);
    expect(errorData(await rejectionOf(trader.client.positions.close.mutate({ symbol: 'CL' })))).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'NO_POSITION' });
    expect((await auditRows(server, ['position.closed'])).filter((r) => r.actorId === trader.id)).toHaveLength(1);
  });

  it('resumes onOrder after lastEventId with every missed update, in order, once', async () => {
    const trader = desk.alice;
    const first = collect<OrderView>();
    const ws = socket(server, trader.token);
    const sub = ws.trpc.trading.onOrder.subscribe(undefined, first);
    await new Promise((r) => setTimeout(r, 200));
    const a = await trader.client.trading.execute.mutate(ticket());
    await waitFor(() => first.events.some((e) => e.data.id === a.id), 5_000, 'the first update');
    sub.unsubscribe();
    const lastEventId = first.events.at(-1)!.id;
    const missed = [await trader.client.trading.execute.mutate(ticket()), await trader.client.trading.execute.mutate(ticket({ type: 'limit', price: 4900 }))];
    const resumed = collect<OrderView>();
    ws.trpc.trading.onOrder.subscribe({ lastEventId }, resumed);
    await waitFor(() => resumed.events.length >= 2, 5_000, 'the missed updates');
    await new Promise((r) => setTimeout(r, 300));
    expect(resumed.events.map((e) => e.data.id)).toEqual(missed.map((o) => o.id));
    const ids = resumed.events.map((e) => BigInt(e.id));
    expect(ids[0]! > BigInt(lastEventId) && ids[1]! > ids[0]!).toBe(true);
  });

  it('still delivers an event whose notice was lost, from the periodic read', async () => {
    const alerts = collect<AlertView>();
    socket(server, desk.alice.token).trpc.alerts.onAlert.subscribe(undefined, alerts);
    await new Promise((r) => setTimeout(r, 200));
    // Written without a NOTIFY, as if the listening connection had dropped at that moment.
    await server.app.deps.db.execute(
      sql`insert into trading_events (kind, owner_id, payload) values ('alert', ${desk.alice.id}, ${JSON.stringify({ category: 'trading', severity: 'info', rule: 'lost_notice', message: 'written quietly', orderId: null, symbol: null })}::jsonb)`,
    );
    await waitFor(() => alerts.events.some((e) => e.data.rule === 'lost_notice'), 15_000, 'the quietly written alert');
    expect(alerts.errors).toEqual([]);
  });

  it('refuses every ticket the moment an admin stops the engine', async () => {
    await desk.admin.client.system.stop.mutate();
    try {
      const results = await Promise.allSettled([desk.alice.client.trading.execute.mutate(ticket()), desk.bob.client.trading.execute.mutate(ticket({ type: 'limit', price: 4990 }))]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        if (r.status === 'rejected') expect(errorData(r.reason)).toMatchObject({ code: 'PRECONDITION_FAILED', rule: 'engine_stopped' });
      }
    } finally {
      await desk.admin.client.system.start.mutate();
    }
    expect((await desk.alice.client.trading.execute.mutate(ticket())).status).toBe('filled');
  });
});

describe('the trading rate limit', () => {
  it('lets a principal place 10 orders a minute, counted across parallel requests', async () => {
    await using server = await startTestServer({ market: { printsPerSecond: 20 } });
    const desk = await openDesk(server);
    const results = await Promise.allSettled(
      Array.from({ length: 14 }, () => httpClient(server, { token: desk.alice.token, batch: false }).trading.execute.mutate(ticket())),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    for (const r of results) if (r.status === 'rejected') expect(errorData(r.reason)).toMatchObject({ code: 'TOO_MANY_REQUESTS', policy: 'trading.execute' });
    expect(await countRows(server, 'orders', `owner_id = '${desk.alice.id}'`)).toBe(10);
    // Another principal has a budget of its own.
    expect((await desk.bob.client.trading.execute.mutate(ticket())).status).toBe('filled');
  });
});
