import type { StrategyName } from '@tapevision/api/schemas/bots';

export interface ParameterField {
  key: string;
  label: string;
  hint: string;
  /** The server's default, shown as the placeholder: an empty field takes it. */
  placeholder: string;
}

/** The form's words for each strategy's own parameters; the server's schema checks them. */
export const STRATEGY_FIELDS: Record<StrategyName, { description: string; fields: ParameterField[] }> = {
  momentum: {
    description: 'Trades in the direction of a move of at least the threshold over the last lookback prints of a symbol.',
    fields: [
      { key: 'lookback', label: 'Lookback (prints)', hint: 'Prints of the symbol the move is measured over, 2 to 500', placeholder: '20' },
      { key: 'thresholdTicks', label: 'Threshold (ticks)', hint: 'Smallest move that triggers a trade', placeholder: '4' },
      { key: 'quantity', label: 'Order quantity', hint: 'Contracts per order, 1 to 100', placeholder: '1' },
      { key: 'maxPosition', label: 'Largest position', hint: 'Net contracts the bot builds per symbol, long or short', placeholder: '5' },
      { key: 'cooldownPrints', label: 'Cool-down (prints)', hint: 'Prints of the symbol ignored after a trade', placeholder: '10' },
    ],
  },
};
