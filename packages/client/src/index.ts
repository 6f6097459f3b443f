export { createTapeVisionClient, type TapeVisionClient, type TapeVisionClientOptions, type ApiKeyOptions, type AccessTokenOptions } from './create-client.ts';
export { RateLimitedError, isRateLimited, type TapeVisionError } from './errors.ts';
export type { AppRouter } from '@tapevision/api';
