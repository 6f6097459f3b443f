import type { AuditFilter } from '@tapevision/api/schemas';
import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback } from 'react';
import { trpc } from '../../trpc.ts';

/** Rows per audit.list call: a few screens' worth, so scrolling rarely waits. */
const PAGE_SIZE = 100;

/**
 * audit.list a page at a time, following nextCursor. TanStack's infinite query over the plain
 * client rather than trpc's useInfiniteQuery: that one adds a `direction` field to the input,
 * which audit.list's strict schema refuses.
 */
export function useAuditPages(filters: AuditFilter) {
  const utils = trpc.useUtils();
  const queryClient = useQueryClient();
  const queryKey = ['audit.list', 'pages', filters] as const;
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) =>
      utils.client.audit.list.query({ ...filters, limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) }, { signal }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
    // Every page read is itself audited: refetch when asked (Refresh), not on every focus.
    refetchOnWindowFocus: false,
    staleTime: 30_000,
  });
  /** Back to the newest page alone (a refetch would re-read every page loaded so far). */
  const reload = useCallback(() => queryClient.resetQueries({ queryKey: ['audit.list', 'pages'] }), [queryClient]);
  return { ...query, reload };
}
