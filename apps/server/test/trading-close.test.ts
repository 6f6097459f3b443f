/**
 * positions.close and trading.cancel reduce risk: they spend a budget of their own (never the
 * order budget), and a close is reduce-only: sized under the account lock from the position
 * itself, so racing closes never flip it, and split into child orders (all or none) when the
 * position is larger than one order may be.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, sql } from '@tapevision/db';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { auditRows } from './support/session-helpers.ts';
import { MANY_ORDERS, openDesk, printOnTape, ticket, type Desk } from './support/trading.ts';

// Each test signs in four users (argon2) on its own server: generous, for a loaded machine.
const SLOW = 90_000;

async function positionOf(server: TestServer, ownerId: string, symbol: string): Promise<number> {
  const [row] = await queryRows<{ quantity: number }>(
    server.app.deps.db,
    sql`select quantity from positions where owner_id = ${ownerId} and symbol = ${symbol}`,
  );
  return row?.quantity ?? 0;
}

async function ordersOf(server: TestServer, ownerId: string): Promise<{ client_order_id: string; quantity: number; status: string }[]> {
  return queryRows(server.app.deps.db, sql`select client_order_id, quantity, status from orders where owner_id = ${ownerId} order by created_at`);
}

describe('the risk-reducing budget', () => {
  it('lets a trader who spent the order budget still cancel and close, counted on trading.reduce', async () => {
    // The default order budget: 10 a minute.
    await using server = await startTestServer({ market: { printsPerSecond: 20 } });
    const desk = await openDesk(server);
    const alice = httpClient(server, { token: desk.alice.token, batch: false });
    await printOnTape(server, 'ES', 5000);
    for (let i = 0; i < 9; i += 1) await alice.trading.execute.mutate(ticket({ quantity: 1 }));
    const resting = await alice.trading.execute.mutate(ticket({ type: 'limit', price: 4900 }));
    expect(errorData(await rejectionOf(alice.trading.execute.mutate(ticket())))).toMatchObject({ code: 'TOO_MANY_REQUESTS', policy: 'trading.execute' });

    expect((await alice.trading.cancel.mutate({ orderId: resting.id })).status).toBe('cancelled');
    const closed = await alice.positions.close.mutate({ symbol: 'ES' });
    expect(closed).toMatchObject({ side: 'SELL', quantity: 9, status: 'filled' });
    expect(closed.orders.map((o) => o.id)).toEqual([closed.id]);
    expect(await positionOf(server, desk.alice.id, 'ES')).toBe(0);
    // Still refused for new risk.
    expect(errorData(await rejectionOf(alice.trading.execute.mutate(ticket())))).toMatchObject({ code: 'TOO_MANY_REQUESTS', policy: 'trading.execute' });
  }, SLOW);

  it('bounds closes and cancels by their own limit, with a 429 naming trading.reduce', async () => {
    await using server = await startTestServer({ market: { printsPerSecond: 20 }, rateLimits: { ...MANY_ORDERS, 'trading.reduce': { points: 2, durationSeconds: 60 } } });
    const desk = await openDesk(server);
    const bob = httpClient(server, { token: desk.bob.token, batch: false });
    await printOnTape(server, 'NQ', 18000);
    await bob.trading.execute.mutate(ticket({ symbol: 'NQ', quantity: 2 }));
    const resting = await bob.trading.execute.mutate(ticket({ symbol: 'NQ', type: 'limit', price: 17900 }));
    await bob.trading.cancel.mutate({ orderId: resting.id });
    await bob.positions.close.mutate({ symbol: 'NQ' });
    await bob.trading.execute.mutate(ticket({ symbol: 'NQ', quantity: 1 }));
    expect(errorData(await rejectionOf(bob.positions.close.mutate({ symbol: 'NQ' })))).toMatchObject({ code: 'TOO_MANY_REQUESTS', policy: 'trading.reduce', limit: 2 });
    expect(await positionOf(server, desk.bob.id, 'NQ')).toBe(1);
  }, SLOW);
});

describe('positions.close is reduce-only', () => {
  let server: TestServer;
  let desk: Desk;
  beforeAll(async () => {
    server = await startTestServer({ market: { printsPerSecond: 20 }, rateLimits: MANY_ORDERS });
    desk = await openDesk(server);
  }, SLOW);
  afterAll(async () => {
    await server?.close();
  });

  it('flattens once when closes race: the others find nothing to close', async () => {
    await printOnTape(server, 'CL', 80);
    await desk.alice.client.trading.execute.mutate(ticket({ symbol: 'CL', quantity: 5 }));
    // Three in one HTTP batch (run side by side by the server) and three requests of their own.
    const results = await Promise.allSettled([
      ...Array.from({ length: 3 }, () => desk.alice.client.positions.close.mutate({ symbol: 'CL' })),
      ...Array.from({ length: 3 }, () => httpClient(server, { token: desk.alice.token, batch: false }).positions.close.mutate({ symbol: 'CL' })),
    ]);
    const filled = results.filter((r) => r.status === 'fulfilled');
    expect(filled).toHaveLength(1);
    expect(filled[0]!.status === 'fulfilled' && filled[0]!.value).toMatchObject({ side: 'SELL', quantity: 5, status: 'filled' });
    for (const r of results) if (r.status === 'rejected') expect(errorData(r.reason)).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'NO_POSITION' });
    expect(await positionOf(server, desk.alice.id, 'CL')).toBe(0);
    expect((await ordersOf(server, desk.alice.id)).filter((o) => o.client_order_id.startsWith('close-'))).toHaveLength(1);
    expect((await auditRows(server, ['position.closed'])).filter((r) => r.actorId === desk.alice.id)).toHaveLength(1);
  });

  it('closes a position larger than maxOrderQuantity in child orders, all or none, and answers a retry with the same orders', async () => {
    await desk.admin.client.system.configure.mutate({ maxPositionPerSymbol: 300, maxOrderQuantity: 100, maxDailyNotionalPerUser: 1e11 });
    await printOnTape(server, 'ES', 5000);
    for (const quantity of [100, 100, 50]) await desk.bob.client.trading.execute.mutate(ticket({ action: 'SELL', quantity }));
    expect(await positionOf(server, desk.bob.id, 'ES')).toBe(-250);

    // While the engine is stopped the close is refused whole, as any ticket is: nothing is filled.
    await desk.admin.client.system.stop.mutate();
    expect(errorData(await rejectionOf(desk.bob.client.positions.close.mutate({ symbol: 'ES', clientOrderId: 'flat-es-stopped' })))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      rule: 'engine_stopped',
    });
    expect(await positionOf(server, desk.bob.id, 'ES')).toBe(-250);
    await desk.admin.client.system.start.mutate();

    const closed = await desk.bob.client.positions.close.mutate({ symbol: 'ES', clientOrderId: 'flat-es' });
    expect(closed.orders.map((o) => [o.clientOrderId, o.side, o.quantity, o.status])).toEqual([
      ['flat-es', 'BUY', 100, 'filled'],
      ['flat-es/2', 'BUY', 100, 'filled'],
      ['flat-es/3', 'BUY', 50, 'filled'],
    ]);
    expect(closed.id).toBe(closed.orders[0]!.id);
    expect(await positionOf(server, desk.bob.id, 'ES')).toBe(0);

    const again = await desk.bob.client.positions.close.mutate({ symbol: 'ES', clientOrderId: 'flat-es' });
    expect(again.orders.map((o) => o.id)).toEqual(closed.orders.map((o) => o.id));
    expect(errorData(await rejectionOf(desk.bob.client.positions.close.mutate({ symbol: 'NQ', clientOrderId: 'flat-es' })))).toMatchObject({
      code: 'CONFLICT',
      reason: 'CLIENT_ORDER_ID_REUSED',
    });
    const [audit] = (await auditRows(server, ['position.closed'])).filter((r) => r.actorId === desk.bob.id);
    expect(audit!.details).toMatchObject({ quantity: -250, orderIds: closed.orders.map((o) => o.id) });
  }, SLOW);
});
