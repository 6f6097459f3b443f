import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@tapevision/api';

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type RouterInputs = inferRouterInputs<AppRouter>;

/** What auth.login and auth.refresh return to a browser (the refresh token stays in its cookie). */
export type AuthResult = Pick<RouterOutputs['auth']['refresh'], 'accessToken' | 'accessTokenExpiresAt' | 'user'>;
export type User = AuthResult['user'];
export type Role = User['role'];
export type Me = RouterOutputs['auth']['me'];
export type SessionView = RouterOutputs['sessions']['list'][number];
export type SessionEvent = RouterOutputs['sessions']['onEvent'] extends AsyncIterable<infer E> ? E : never;
