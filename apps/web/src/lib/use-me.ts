import type { TRPCClientErrorLike } from '@trpc/client';
import type { UseTRPCQueryResult } from '@trpc/react-query/shared';
import type { AppRouter } from '@tapevision/api';
import { trpc } from '../trpc.ts';
import type { Me } from '../types.ts';

/** auth.me: the caller's user, role, permissions and current session id. */
export function useMe(): UseTRPCQueryResult<Me, TRPCClientErrorLike<AppRouter>> {
  return trpc.auth.me.useQuery(undefined, { staleTime: 30_000 });
}
