/**
 * Two server PROCESSES on one Postgres, as behind a load balancer: the same tape on both, fills
 * and order updates placed through one reach subscribers of the other, a clientOrderId retried
 * on both places one order, and an engine stopped through one refuses tickets on the other.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FillView, OrderView, TapePrint } from '@tapevision/api/schemas';
import { errorData, httpClient, rejectionOf, wsClient, type ApiClient, type WsTestClient } from './support/clients.ts';
import { SHARED_REDIS_URL, startCluster, type Cluster, type ClusterNode } from './support/cluster.ts';
import { waitFor } from './support/session-helpers.ts';
import { ticket } from './support/trading.ts';
import { strongPassword } from './support/users.ts';

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

async function signInOn(node: ClusterNode, who: { email: string; password: string }): Promise<{ client: ApiClient; token: string; id: string }> {
  const login = await httpClient(node).auth.login.mutate(who);
  return { client: httpClient(node, { token: login.accessToken }), token: login.accessToken, id: login.user.id };
}

function socketOn(node: ClusterNode, token: string): WsTestClient {
  const ws = wsClient(node, { token });
  sockets.push(ws);
  return ws;
}

describe('trading across two server processes', () => {
  let cluster: Cluster;
  let a: ClusterNode;
  let b: ClusterNode;
  let admin: Awaited<ReturnType<typeof signInOn>>;
  let trader: { email: string; password: string };

  beforeAll(async () => {
    cluster = await startCluster(2, { REDIS_URL: SHARED_REDIS_URL, MARKET_PRINTS_PER_SECOND: '20', MARKET_LEADER_RETRY_MS: '300', RATE_LIMIT_TRADING: '100' });
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    admin = await signInOn(a, cluster.admin);
    trader = { email: `cluster-trader-${Date.now().toString(36)}@desk.example`, password: strongPassword() };
    await admin.client.users.create.mutate({ ...trader, role: 'trader', mustChangePassword: false });
    await admin.client.system.start.mutate();
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('shows the same tape on both processes', async () => {
    const viewerToken = (await signInOn(b, trader)).token;
    const onA: TapePrint[] = [];
    const onB: TapePrint[] = [];
    socketOn(a, viewerToken).trpc.market.onTape.subscribe(undefined, { onData: (e) => onA.push((e as { data: TapePrint }).data) });
    socketOn(b, viewerToken).trpc.market.onTape.subscribe(undefined, { onData: (e) => onB.push((e as { data: TapePrint }).data) });
    await waitFor(() => onA.length >= 20 && onB.length >= 20, 15_000, 'prints on both processes');
    const common = onA.filter((p) => onB.some((q) => q.id === p.id));
    expect(common.length).toBeGreaterThan(10);
    for (const p of common) expect(onB.find((q) => q.id === p.id)).toEqual(p);
  });

  it('delivers a fill made through one process to subscribers of the other, with the same positions on both', async () => {
    const onA = await signInOn(a, trader);
    const onB = await signInOn(b, trader);
    for (let tries = 0; !(await onA.client.market.lastPrices.query()).every((p) => p.price !== null); tries++) {
      if (tries > 150) throw new Error('no prices on the tape');
      await new Promise((r) => setTimeout(r, 100));
    }
    const fills: FillView[] = [];
    const orders: OrderView[] = [];
    const ws = socketOn(b, onB.token);
    ws.trpc.trading.onTrade.subscribe(undefined, { onData: (e) => fills.push((e as { data: FillView }).data) });
    ws.trpc.trading.onOrder.subscribe(undefined, { onData: (e) => orders.push((e as { data: OrderView }).data) });
    await new Promise((r) => setTimeout(r, 300));

    const order = await onA.client.trading.execute.mutate(ticket({ symbol: 'NQ', quantity: 2 }));
    expect(order.status).toBe('filled');
    await waitFor(() => fills.some((f) => f.orderId === order.id), 10_000, 'the fill on the other process');
    expect(fills.find((f) => f.orderId === order.id)).toMatchObject({ quantity: 2, price: order.averageFillPrice, ownerId: onA.id });
    await waitFor(() => orders.some((o) => o.id === order.id && o.status === 'filled'), 10_000, 'the order update');

    const fromA = await onA.client.positions.list.query();
    const fromB = await onB.client.positions.list.query();
    expect(fromB.positions.map((p) => [p.symbol, p.quantity, p.averagePrice, p.realizedPnl])).toEqual(
      fromA.positions.map((p) => [p.symbol, p.quantity, p.averagePrice, p.realizedPnl]),
    );

    // A resting order placed through B, cancelled through A: B's subscriber sees both updates.
    const last = (await onB.client.market.lastPrices.query()).find((p) => p.symbol === 'NQ')!.price!;
    const resting = await onB.client.trading.execute.mutate(ticket({ symbol: 'NQ', type: 'limit', price: Math.round((last * 0.97) / 0.25) * 0.25 }));
    expect(resting.status).toBe('working');
    await onA.client.trading.cancel.mutate({ orderId: resting.id });
    await waitFor(() => orders.some((o) => o.id === resting.id && o.status === 'cancelled'), 10_000, 'the cancel on the other process');
    expect(orders.filter((o) => o.id === resting.id).map((o) => o.status)).toEqual(['working', 'cancelled']);
  });

  it('fills each resting order exactly once, whichever process took it', async () => {
    const onA = await signInOn(a, trader);
    const onB = await signInOn(b, trader);
    const last = (await onA.client.market.lastPrices.query()).find((p) => p.symbol === 'ES')!.price!;
    // Buy limits 1% above the market: the next ES print crosses them.
    const price = Math.round((last * 1.01) / 0.25) * 0.25;
    const placed = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? onA : onB).client.trading.execute.mutate(ticket({ type: 'limit', price }))));
    expect(placed.every((o) => o.status === 'working')).toBe(true);
    const ids = new Set(placed.map((o) => o.id));
    let filled: OrderView[] = [];
    for (let tries = 0; filled.length < ids.size; tries++) {
      if (tries > 200) throw new Error(`only ${filled.length} of ${ids.size} resting orders filled`);
      await new Promise((r) => setTimeout(r, 100));
      filled = (await onB.client.trading.orders.query({ status: 'filled', limit: 200 })).items.filter((o) => ids.has(o.id));
    }
    const trades = (await onA.client.trading.trades.query({ limit: 200 })).items.filter((f) => ids.has(f.orderId));
    expect(trades).toHaveLength(ids.size);
    for (const f of trades) expect(f.price).toBeLessThanOrEqual(price);
  });

  it('places one order for a clientOrderId retried on both processes at once', async () => {
    const onA = await signInOn(a, trader);
    const onB = await signInOn(b, trader);
    const t = ticket({ symbol: 'ES' });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? onA : onB).client.trading.execute.mutate(t)));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    const page = await onA.client.trading.orders.query({ limit: 200 });
    expect(page.items.filter((o) => o.clientOrderId === t.clientOrderId)).toHaveLength(1);
  });

  it('refuses tickets on the other process as soon as the engine is stopped on one', async () => {
    const onB = await signInOn(b, trader);
    await admin.client.system.stop.mutate();
    try {
      const err = await rejectionOf(onB.client.trading.execute.mutate(ticket()));
      expect(errorData(err)).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'RISK_REJECTED', rule: 'engine_stopped' });
    } finally {
      await admin.client.system.start.mutate();
    }
  });
});
