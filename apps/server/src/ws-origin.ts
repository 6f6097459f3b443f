import type { IncomingMessage } from 'node:http';

/**
 * Whether a WebSocket upgrade may go on. Browsers send Origin on every WebSocket and cookies ride
 * along with it, so a page on any same-site origin (another port, a sibling subdomain) could open
 * the socket as the victim: only the app's own origin (the Host it was reached at) and the listed
 * ones are let in. Clients that send no Origin (services, the typed client in Node) are not browsers.
 */
export function webSocketOriginAllowed(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.has(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.host === req.headers.host;
}
