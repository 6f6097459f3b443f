/** What the baselines answer: the same JSON as the real server's `market.lastPrices` before the first print. */
export const LAST_PRICES = ['ES', 'NQ', 'CL'].map((symbol) => ({ symbol, price: null, at: null, printId: null }));

/**
 * Calls `send` with tRPC subscription frames of tape prints, `printsPerSecond` of them, in 10 ms
 * ticks like the product's simulator; `at` is when the frame was made, as a print's `at` is.
 */
export function broadcastPrints(printsPerSecond: number, send: (message: string) => void): () => void {
  const perTick = printsPerSecond / 100;
  const started = performance.now();
  let sent = 0;
  let id = BigInt(Date.now()) * 1_000_000n;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 10) * perTick);
    for (; sent < due; sent++) {
      id += 1n;
      const print = { id: id.toString(), at: new Date().toISOString(), symbol: 'ES', price: 5300.25, size: 3, side: 'BUY' };
      send(JSON.stringify({ id: 1, result: { type: 'data', id: print.id, data: print } }));
    }
  }, 10);
  return () => clearInterval(timer);
}
