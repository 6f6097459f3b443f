import type { FillView, Page } from '@tapevision/api/schemas';
import type { UniverseInstrument } from '@tapevision/api/schemas';
import { ErrorAlert } from '../Alert.tsx';
import { Loading } from '../Loading.tsx';
import { FillsTable } from '../trading/OrdersAndFills.tsx';
import { trpc } from '../../trpc.ts';

const LIMIT = 50;

/** One bot's fills, newest first, with new ones as they are booked. */
export function BotFills({ botId, universe }: { botId: string; universe: readonly UniverseInstrument[] | undefined }) {
  const utils = trpc.useUtils();
  const input = { botId, limit: LIMIT };
  const fills = trpc.trading.trades.useQuery(input);
  trpc.trading.onTrade.useSubscription(undefined, {
    onStarted: () => void utils.trading.trades.invalidate(input),
    onData: ({ data: fill }) => {
      if (fill.botId !== botId) return;
      utils.trading.trades.setData(input, (page: Page<FillView> | undefined) =>
        page ? { ...page, items: [fill, ...page.items.filter((f) => f.id !== fill.id)].slice(0, LIMIT) } : page,
      );
    },
  });
  if (fills.isPending) return <Loading label="Loading the bot's fills…" />;
  if (fills.error) return <ErrorAlert error={fills.error} />;
  return <FillsTable fills={fills.data.items} universe={universe} label="Bot fills" />;
}
