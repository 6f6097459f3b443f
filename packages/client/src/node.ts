import WebSocket from 'ws';
import { createTapeVisionClient as createClient, type TapeVisionClient, type TapeVisionClientOptions } from './create-client.ts';

export { RateLimitedError, isRateLimited, type TapeVisionError } from './errors.ts';
export type { TapeVisionClient, TapeVisionClientOptions, ApiKeyOptions, AccessTokenOptions } from './create-client.ts';
export type { AppRouter } from '@tapevision/api';

/**
 * Node entry point: the same client, with the `ws` package supplying WebSocket (Node 20 has none).
 * See the browser entry for the full description.
 */
export function createTapeVisionClient(options: TapeVisionClientOptions): TapeVisionClient {
  return createClient({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, ...options });
}
