import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@tapevision/api';

export { createTapeVisionClient, type TapeVisionClient, type TapeVisionClientOptions, type ApiKeyOptions, type AccessTokenOptions } from './create-client.ts';
export { RateLimitedError, isRateLimited, isTapeVisionError, type TapeVisionError } from './errors.ts';
export type { AppRouter };

/** Every procedure's input type: `RouterInputs['apiKeys']['create']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's output type: `RouterOutputs['apiKeys']['list'][number]` is one key. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
