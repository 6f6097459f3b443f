import type { IncomingMessage, ServerResponse } from 'node:http';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * helmet's headers, worked out once. Configured without per-request directives (no nonces, no
 * functions), helmet sets the same headers on every response; running its twelve middlewares per
 * request cost about as much as the tRPC call behind them. The headers are recorded by running
 * helmet once against a stand-in response, and each response gets exactly those. A configuration
 * whose headers would depend on the request (helmet reads it, or does not finish at once) throws
 * here, at start-up.
 */
export function precomputedHeaders(middleware: Middleware): Middleware {
  const set: [string, number | string | readonly string[]][] = [];
  const removed: string[] = [];
  const stand = {
    setHeader: (name: string, value: number | string | readonly string[]) => void set.push([name, value]),
    removeHeader: (name: string) => void removed.push(name),
  };
  const request = new Proxy({} as IncomingMessage, {
    get(_t, key) {
      throw new Error(`security headers read the request (${String(key)}): they cannot be computed once`);
    },
  });
  let finished = false;
  middleware(request, stand as unknown as ServerResponse, (err) => {
    if (err) throw err instanceof Error ? err : new Error(String(err));
    finished = true;
  });
  if (!finished) throw new Error('security headers did not finish at once: they cannot be computed once');
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}
