import { MARKET_PRINTS_CHANNEL } from '@tapevision/api';
import type { ExecuteOrderInput, TapePrint } from '@tapevision/api/schemas';
import type { TestServer } from './server.ts';
import { waitFor } from './session-helpers.ts';
import { seedUser, signIn, type SignedIn } from './users.ts';

/** A desk with the engine running and a last price for every symbol. */
export interface Desk {
  admin: SignedIn;
  /** Two traders, so every object-level check has someone else's data to aim at. */
  alice: SignedIn & { id: string };
  bob: SignedIn & { id: string };
  viewer: SignedIn & { id: string };
}

export async function openDesk(server: TestServer): Promise<Desk> {
  const as = async (role: 'admin' | 'trader' | 'viewer') => {
    const user = await seedUser(server, role);
    return Object.assign(await signIn(server, user), { id: user.id });
  };
  const [admin, alice, bob, viewer] = await Promise.all([as('admin'), as('trader'), as('trader'), as('viewer')]);
  await admin.client.system.start.mutate();
  await waitFor(() => server.app.deps.market.lastPrices().every((p) => p.price !== null), 10_000, 'a last price for every symbol');
  return { admin, alice, bob, viewer };
}

/**
 * Puts one print on the tape, as the producing process would: the way a test sets the price a
 * market order fills at or a resting order is crossed by. Resolves once this process has it.
 * Its id jumps far ahead, so the simulator's own prints (lower ids) are dropped as stale from
 * then on and the price stays where the test put it.
 */
export async function printOnTape(server: TestServer, symbol: string, price: number): Promise<TapePrint> {
  const tape = server.app.deps.market;
  const id = ((tape.lastId() ?? 0n) + 1_000_000n).toString();
  const print: TapePrint = { id, at: new Date().toISOString(), symbol, price, size: 1, side: 'BUY' };
  await server.app.deps.bus.publish(MARKET_PRINTS_CHANNEL, [print]);
  await waitFor(() => (tape.lastId() ?? 0n) >= BigInt(id), 5_000, `print ${id} on the tape`);
  return print;
}

export function lastPrice(server: TestServer, symbol: string): number {
  const p = server.app.deps.market.lastPrices().find((x) => x.symbol === symbol)?.price;
  if (p == null) throw new Error(`no last price for ${symbol}`);
  return p;
}

let seq = 0;
export function ticket(over: Partial<ExecuteOrderInput> = {}): ExecuteOrderInput {
  seq += 1;
  return {
    action: 'BUY',
    symbol: 'ES',
    quantity: 1,
    type: 'market',
    reason: 'Momentum breakout above the morning high',
    clientOrderId: `t-${Date.now().toString(36)}-${seq}`,
    ...over,
  } as ExecuteOrderInput;
}

/** Generous trading budget for tests that place many orders; the limit itself is tested apart. */
export const MANY_ORDERS = { 'trading.execute': { points: 1_000, durationSeconds: 60 } };
