import { z } from 'zod';
import { text } from './text.ts';
import { SECRET_MASK } from '../crypto/secret-mask.ts';
import { DEFAULT_UNIVERSE } from '../trading/instruments.ts';
import { STRATEGIES, STRATEGY_NAMES, type StrategyName } from '../trading/strategies/index.ts';

// Browser-safe: the SPA's bot form validates with these. Parameters are open to keys other than
// the strategy's own (a webhook token, say), so every key, value and count is bounded here.

const SYMBOLS = DEFAULT_UNIVERSE.map((i) => i.symbol) as [string, ...string[]];

export const BOT_LIMITS = {
  nameLength: 80,
  parameterKeys: 32,
  credentialKeys: 16,
  keyLength: 64,
  parameterValueLength: 1_000,
  credentialValueLength: 4_096,
} as const;

export { SECRET_MASK, STRATEGY_NAMES, type StrategyName };

const fieldName = text()
  .min(1)
  .max(BOT_LIMITS.keyLength)
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'Field names: a letter, then letters, digits, "_", "." or "-"');

const botName = text().trim().min(1, 'Name the bot').max(BOT_LIMITS.nameLength);
const strategy = z.enum(STRATEGY_NAMES);
const symbols = z
  .array(z.enum(SYMBOLS))
  .min(1, 'Choose at least one symbol')
  .max(SYMBOLS.length)
  .refine((list) => new Set(list).size === list.length, 'Each symbol once');

const parameterValue = z.union([text().max(BOT_LIMITS.parameterValueLength), z.number().finite(), z.boolean(), z.null()]);

/** Strategy parameters and any other settings (secret-named ones are stored encrypted); flat. */
export const botParameters = z
  .record(fieldName, parameterValue)
  .refine((p) => Object.keys(p).length <= BOT_LIMITS.parameterKeys, `At most ${BOT_LIMITS.parameterKeys} parameters`);

/** Broker keys, webhook URLs and the like: every value is stored encrypted and shown masked. */
export const botCredentials = z
  .record(fieldName, text().max(BOT_LIMITS.credentialValueLength))
  .refine((c) => Object.keys(c).length <= BOT_LIMITS.credentialKeys, `At most ${BOT_LIMITS.credentialKeys} credentials`);

export type BotParameters = z.infer<typeof botParameters>;
export type BotCredentials = z.infer<typeof botCredentials>;

/** Checks a strategy's own parameters; other keys are left to the shape checks above. */
export function strategyParameterIssues(name: StrategyName, parameters: Record<string, unknown>): z.core.$ZodIssue[] {
  const parsed = STRATEGIES[name].parameters.safeParse(parameters);
  return parsed.success ? [] : parsed.error.issues;
}

export const createBotInput = z
  .strictObject({
    name: botName,
    strategy,
    symbols,
    parameters: botParameters.default({}),
    credentials: botCredentials.default({}),
  })
  .superRefine((v, ctx) => {
    for (const issue of strategyParameterIssues(v.strategy, v.parameters)) ctx.addIssue({ ...issue, path: ['parameters', ...issue.path] } as never);
    if (Object.values(v.credentials).includes(SECRET_MASK) || Object.values(v.parameters).includes(SECRET_MASK)) {
      ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'A new bot has no saved secret to keep: send the value' });
    }
  });

/**
 * Any subset. A secret sent back as SECRET_MASK keeps the saved value; an omitted `credentials`
 * keeps them all; a sent one replaces the set (keys left out are removed). `version`, when sent,
 * must be the bot's current one (CONFLICT otherwise), so a form saved over a newer edit is refused.
 */
export const updateBotInput = z.strictObject({
  id: z.uuid(),
  name: botName.optional(),
  strategy: strategy.optional(),
  symbols: symbols.optional(),
  parameters: botParameters.optional(),
  credentials: botCredentials.optional(),
  version: z.number().int().min(0).optional(),
});

export const botIdInput = z.strictObject({ id: z.uuid() });

export const listBotsInput = z
  .strictObject({
    /** Another user's bots: only for those who may see every account. */
    ownerId: z.uuid().optional(),
  })
  .optional();

export type CreateBotInput = z.infer<typeof createBotInput>;
export type UpdateBotInput = z.infer<typeof updateBotInput>;
export type ListBotsInput = z.infer<typeof listBotsInput>;

export const BOT_STATUSES = ['stopped', 'running'] as const;
export type BotStatus = (typeof BOT_STATUSES)[number];

/** A bot as the API shows it: secrets are SECRET_MASK (empty stays empty), never a value or ciphertext. */
export interface BotView {
  id: string;
  ownerId: string;
  name: string;
  strategy: StrategyName;
  symbols: string[];
  parameters: Record<string, unknown>;
  credentials: Record<string, string>;
  status: BotStatus;
  lastError: string | null;
  startedAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}
