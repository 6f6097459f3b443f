export {
  CL,
  DEFAULT_UNIVERSE,
  ES,
  NQ,
  assertValidUniverse,
  findInstrument,
  formatPrice,
  isOnTick,
  priceToTicks,
  roundToTick,
  tickDecimals,
  ticksToPrice,
  type Instrument,
} from './instruments.ts';
export type { MarketData, Print, PrintListener, Side } from './market-data.ts';
export { createSimulatedMarket, type SimulatedMarket, type SimulatedMarketOptions, type Timers } from './simulated-market.ts';
export type {
  Broker,
  BrokerEvent,
  BrokerListener,
  BrokerOrder,
  BrokerOrderState,
  Fill,
  LimitOrder,
  MarketOrder,
  OrderStatus,
} from './broker.ts';
export { checkOrderRisk, RISK_RULES, type RiskContext, type RiskRule } from './risk.ts';
export { createPaperBroker, type PaperBroker, type PaperBrokerOptions } from './paper-broker.ts';
export {
  applyFill,
  flatPosition,
  positionsFromFills,
  roundMoney,
  totalPnl,
  unrealizedPnl,
  type PnlTotals,
  type Position,
  type PositionFill,
} from './pnl.ts';
