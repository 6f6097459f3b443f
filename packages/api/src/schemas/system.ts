import { z } from 'zod';
import { text } from './text.ts';

/** Hard ceiling on one order's size, whatever the configured limit says. */
export const MAX_ORDER_QUANTITY_CEILING = 100;

export const riskLimitsSchema = z.strictObject({
  /** Largest absolute net position, in contracts, a user may hold in one symbol. */
  maxPositionPerSymbol: z.number().int().min(1).max(10_000),
  /** Most notional (price × point value × contracts) a user may send in one UTC day. */
  maxDailyNotionalPerUser: z.number().positive().max(1e12),
  /** A limit price may sit at most this many percent away from the last price. */
  limitPriceBandPct: z.number().positive().max(50),
  /** Largest single order, in contracts; never above 100. */
  maxOrderQuantity: z.number().int().min(1).max(MAX_ORDER_QUANTITY_CEILING),
});

export type RiskLimits = z.infer<typeof riskLimitsSchema>;

export const configureSystemInput = riskLimitsSchema
  .partial()
  .refine((v) => Object.values(v).some((x) => x !== undefined), { message: 'Nothing to change' });

export type ConfigureSystemInput = z.infer<typeof configureSystemInput>;

export const systemOnStatusInput = z
  .strictObject({
    /** The id of the last event seen; sent by tRPC's wsLink when it resubscribes. */
    lastEventId: text().regex(/^\d{1,19}$/).nullish(),
  })
  .optional();

export const ENGINE_STATES = ['running', 'stopped'] as const;
export type EngineRunState = (typeof ENGINE_STATES)[number];

export interface UniverseInstrument {
  symbol: string;
  name: string;
  tickSize: number;
  pointValue: number;
}

export interface EngineStatus {
  state: EngineRunState;
  universe: UniverseInstrument[];
  riskLimits: RiskLimits;
  /** Whole seconds since the engine started; 0 while stopped. */
  uptimeSeconds: number;
  startedAt: string | null;
  stoppedAt: string | null;
  /** Counts every start, stop and configure. */
  version: number;
  updatedBy: string | null;
  updatedAt: string;
}

export const ENGINE_EVENT_KINDS = ['started', 'stopped', 'configured'] as const;
export type EngineEventKind = (typeof ENGINE_EVENT_KINDS)[number];

/** One change, as system.onStatus delivers it (tracked by `id`). */
export interface EngineStatusEvent {
  id: string;
  at: string;
  kind: EngineEventKind;
  state: EngineRunState;
  riskLimits: RiskLimits;
  version: number;
  startedAt: string | null;
  stoppedAt: string | null;
  updatedBy: string | null;
}
