import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@tapevision/api';
import type * as ServerCodes from '@tapevision/api/ws-close-codes';

export { createTapeVisionClient, type TapeVisionClient, type TapeVisionClientOptions, type ApiKeyOptions, type AccessTokenOptions } from './create-client.ts';
export { RateLimitedError, isRateLimited, isTapeVisionError, type TapeVisionError } from './errors.ts';
export type { AppRouter };
/**
 * Close codes the server ends a WebSocket with. `WS_CLOSE_REVOKED` (4001): the session or API key
 * it was opened with was revoked, rolled, expired or its owner disabled; the client reconnects and
 * each subscription then fails with `UNAUTHORIZED` (`API_KEY_REVOKED`, …), so `onError` says why.
 * `WS_CLOSE_RIGHTS_CHANGED` (4003): the key's owner lost a right the socket was opened with; the
 * client reconnects and each subscription is authorised afresh (`FORBIDDEN` for the ones now out of reach).
 */
// Declared here, typed by the server's values: the client imports no server code at run time, and a
// changed code on the server fails this package's type check.
export const WS_CLOSE_REVOKED: typeof ServerCodes.WS_CLOSE_REVOKED = 4001;
export const WS_CLOSE_RIGHTS_CHANGED: typeof ServerCodes.WS_CLOSE_RIGHTS_CHANGED = 4003;

/** Every procedure's input type: `RouterInputs['apiKeys']['create']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's output type: `RouterOutputs['apiKeys']['list'][number]` is one key. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
