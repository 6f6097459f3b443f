import WebSocket from 'ws';
import { createTapeVisionClient as createClient, type TapeVisionClient, type TapeVisionClientOptions } from './create-client.ts';

export { RateLimitedError, isRateLimited, isTapeVisionError, type TapeVisionError } from './errors.ts';
export type { TapeVisionClient, TapeVisionClientOptions, ApiKeyOptions, AccessTokenOptions } from './create-client.ts';
export type { AppRouter, RouterInputs, RouterOutputs } from './index.ts';
export { WS_CLOSE_REVOKED, WS_CLOSE_RIGHTS_CHANGED } from './index.ts';

/**
 * Node entry point: the same client, with the `ws` package supplying WebSocket (Node 20 has none).
 * See the browser entry for the full description.
 *
 * @example
 * const tv = createTapeVisionClient({ url: 'http://localhost:3000', apiKey: process.env.TAPEVISION_API_KEY! });
 * const keys = await tv.apiKeys.list.query();
 * await tv.close();
 */
export function createTapeVisionClient(options: TapeVisionClientOptions): TapeVisionClient {
  return createClient({ ...options, WebSocket: options.WebSocket ?? (WebSocket as unknown as typeof globalThis.WebSocket) });
}
