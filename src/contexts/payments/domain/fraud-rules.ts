import { currencyExponent, toMajorUnits } from '../../../kernel/money.ts';
import type { Region } from '../../../kernel/region.ts';
import { regionOfCountry } from './country-regions.ts';
import { isRiskyToken } from './payment-tokens.ts';

/**
 * Explainable fraud scoring (pure). Each rule looks at the order's facts and either stays silent or
 * hits with points and a sentence saying why; the score is the sum of the hits' points, and the
 * order is rejected when the score reaches the threshold. FraudAssessed records all of it, so the
 * audit trail answers "why was this order rejected?".
 */

/** The configuration of the rules (`AppConfig.fraud`, ORDERFLOW_FRAUD_*). */
export interface FraudRulesConfig {
  /** Score at or above which the order is rejected. */
  readonly threshold: number;
  /** Amount in minor units above which the `amount` rule scores. */
  readonly amountReview: number;
  /** The window the velocity rules count orders in. */
  readonly velocityWindowMs: number;
  /** Orders allowed per customer and per card in the window. */
  readonly velocityLimit: number;
}

export const FRAUD_RULE_NAMES = [
  'amount',
  'customer_velocity',
  'token_velocity',
  'country_mismatch',
  'risky_token',
] as const;
export type FraudRuleName = (typeof FRAUD_RULE_NAMES)[number];

export interface FraudRuleHit {
  readonly rule: FraudRuleName;
  readonly points: number;
  readonly detail: string;
}

export type FraudDecision = 'accept' | 'reject';

export interface FraudAssessment {
  readonly score: number;
  readonly decision: FraudDecision;
  readonly threshold: number;
  readonly rules: readonly FraudRuleHit[];
}

/** What the rules look at: the order, plus the velocity counts from the velocity streams. */
export interface FraudFacts {
  readonly customerId: string;
  readonly region: Region;
  readonly shippingCountry: string;
  /** Integer minor units of `currency`. */
  readonly amount: number;
  readonly currency: string;
  readonly paymentToken: string;
  /** Orders by this customer in the window, this one included. */
  readonly customerOrdersInWindow: number;
  /** Orders paid with this exact token (card) in the window, this one included. */
  readonly tokenOrdersInWindow: number;
}

/** `amount`: tiers by how far the amount exceeds the review threshold (strictly above `factor ×` it). */
export const AMOUNT_TIERS: readonly { factor: number; points: number }[] = [
  { factor: 5, points: 50 },
  { factor: 2, points: 35 },
  { factor: 1, points: 20 },
];
/** Velocity rules: points on the first order over the limit, per further order, and their cap. */
export const CUSTOMER_VELOCITY_POINTS = { first: 30, step: 10, max: 70 } as const;
export const TOKEN_VELOCITY_POINTS = { first: 40, step: 10, max: 70 } as const;
export const COUNTRY_MISMATCH_POINTS = 25;
export const UNKNOWN_COUNTRY_POINTS = 10;
/** `tok_risky` scores at least this, and never less than the threshold: it is always rejected. */
export const RISKY_TOKEN_POINTS = 100;

type FraudRule = (facts: FraudFacts, config: FraudRulesConfig) => FraudRuleHit | undefined;

const amountRule: FraudRule = (facts, config) => {
  const tier = AMOUNT_TIERS.find(({ factor }) => facts.amount > config.amountReview * factor);
  if (tier === undefined) return undefined;
  const times = tier.factor === 1 ? '' : `${tier.factor}× `;
  return {
    rule: 'amount',
    points: tier.points,
    detail: `amount ${money(facts.amount, facts.currency)} is above ${times}the review threshold ${money(config.amountReview, facts.currency)}`,
  };
};

const customerVelocityRule: FraudRule = (facts, config) => {
  const points = velocityPoints(facts.customerOrdersInWindow, config.velocityLimit, CUSTOMER_VELOCITY_POINTS);
  if (points === 0) return undefined;
  return {
    rule: 'customer_velocity',
    points,
    detail: `${facts.customerOrdersInWindow} orders by customer ${facts.customerId} in the last ${duration(config.velocityWindowMs)} (limit ${config.velocityLimit})`,
  };
};

const tokenVelocityRule: FraudRule = (facts, config) => {
  const points = velocityPoints(facts.tokenOrdersInWindow, config.velocityLimit, TOKEN_VELOCITY_POINTS);
  if (points === 0) return undefined;
  return {
    rule: 'token_velocity',
    points,
    detail: `${facts.tokenOrdersInWindow} orders paid with card ${facts.paymentToken} in the last ${duration(config.velocityWindowMs)} (limit ${config.velocityLimit})`,
  };
};

const countryMismatchRule: FraudRule = (facts) => {
  const region = regionOfCountry(facts.shippingCountry);
  if (region === facts.region) return undefined;
  if (region === undefined) {
    return {
      rule: 'country_mismatch',
      points: UNKNOWN_COUNTRY_POINTS,
      detail: `shipping country ${facts.shippingCountry} is not in any known region; the order's region is ${facts.region}`,
    };
  }
  return {
    rule: 'country_mismatch',
    points: COUNTRY_MISMATCH_POINTS,
    detail: `shipping country ${facts.shippingCountry} is in ${region}, outside the order's region ${facts.region}`,
  };
};

const riskyTokenRule: FraudRule = (facts, config) => {
  if (!isRiskyToken(facts.paymentToken)) return undefined;
  return {
    rule: 'risky_token',
    points: Math.max(RISKY_TOKEN_POINTS, config.threshold),
    detail: `payment token ${facts.paymentToken} is flagged as high risk by the provider`,
  };
};

/** Every rule, in the order their hits are listed. */
const RULES: readonly FraudRule[] = [
  amountRule,
  customerVelocityRule,
  tokenVelocityRule,
  countryMismatchRule,
  riskyTokenRule,
];

/** Runs every rule, sums the hits and decides. */
export function assessFraud(facts: FraudFacts, config: FraudRulesConfig): FraudAssessment {
  const rules: FraudRuleHit[] = [];
  for (const rule of RULES) {
    const hit = rule(facts, config);
    if (hit !== undefined) rules.push(hit);
  }
  const score = scoreOf(rules);
  return { score, decision: decideFraud(score, config.threshold), threshold: config.threshold, rules };
}

/** The score is the sum of the hits' points. */
export function scoreOf(hits: readonly FraudRuleHit[]): number {
  let score = 0;
  for (const hit of hits) score += hit.points;
  return score;
}

/** `reject` when the score reaches the threshold. */
export function decideFraud(score: number, threshold: number): FraudDecision {
  return score >= threshold ? 'reject' : 'accept';
}

/**
 * How many earlier orders a velocity stream must remember: past `limit + this` orders in the window
 * both velocity rules have reached their cap, so older entries cannot change a score.
 */
export function velocityMemory(config: FraudRulesConfig): number {
  const saturation = (points: { first: number; step: number; max: number }) =>
    1 + Math.ceil((points.max - points.first) / points.step);
  return (
    config.velocityLimit + Math.max(saturation(CUSTOMER_VELOCITY_POINTS), saturation(TOKEN_VELOCITY_POINTS))
  );
}

function velocityPoints(
  count: number,
  limit: number,
  points: { first: number; step: number; max: number },
): number {
  if (count <= limit) return 0;
  return Math.min(points.max, points.first + points.step * (count - limit - 1));
}

function money(minor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  return `${toMajorUnits(minor, currency).toLocaleString('en-US', {
    minimumFractionDigits: exponent,
    maximumFractionDigits: exponent,
  })} ${currency}`;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
