/**
 * The one table of rate-limit policies. Defaults follow the platforms we learn from; every number
 * can be overridden at start-up (see the server's config).
 */
export interface RateLimitPolicy {
  points: number;
  durationSeconds: number;
}

export interface RateLimitPolicies {
  /** Failed sign-ins per IP + email; successful ones are given back. */
  login: RateLimitPolicy;
  /** Orders per principal. */
  'trading.execute': RateLimitPolicy;
  /**
   * Risk-reducing calls (closes, cancels) per principal: a budget of their own, so a trader who
   * spent the order budget can still get flat.
   */
  'trading.reduce': RateLimitPolicy;
  /** Every API call per principal (per IP when anonymous). */
  api: RateLimitPolicy;
}

export type PolicyName = keyof RateLimitPolicies;

/** Policies a procedure may name in its meta, on top of `api`. */
export type ProcedurePolicy = Exclude<PolicyName, 'api' | 'login'>;

export const defaultRateLimitPolicies: RateLimitPolicies = {
  login: { points: 5, durationSeconds: 15 * 60 },
  'trading.execute': { points: 10, durationSeconds: 60 },
  'trading.reduce': { points: 120, durationSeconds: 60 },
  api: { points: 1000, durationSeconds: 15 * 60 },
};

/** An API key's own limit, when its creator set one: requests per minute. */
export function apiKeyPolicy(perMinute: number): RateLimitPolicy {
  return { points: perMinute, durationSeconds: 60 };
}
