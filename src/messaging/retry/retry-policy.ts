import { checkInteger, checkNumber, throwIfInvalid } from '../../kernel/options.ts';
import type { RetryPolicyOptions } from '../handler.ts';

/** A validated, complete and frozen retry policy. */
export type RetryPolicy = Readonly<RetryPolicyOptions>;

/** The defaults documented on `RetryPolicyOptions`. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 8,
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
});

/**
 * Fills in defaults and validates once, so that consumers never meet a policy that cannot work.
 * Throws one InvalidOptionsError (CONFIG_INVALID) listing every problem.
 */
export function resolveRetryPolicy(options: Partial<RetryPolicyOptions> = {}): RetryPolicy {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const policy: RetryPolicyOptions = { ...DEFAULT_RETRY_POLICY, ...defined };
  const delaysKnown = Number.isFinite(policy.initialDelayMs) && Number.isFinite(policy.maxDelayMs);
  throwIfInvalid(
    [
      checkInteger('maxAttempts', policy.maxAttempts, { min: 1 }),
      checkNumber('initialDelayMs', policy.initialDelayMs, { min: 0 }),
      checkNumber('maxDelayMs', policy.maxDelayMs, { min: 0 }),
      delaysKnown && policy.maxDelayMs >= 0 && policy.maxDelayMs < policy.initialDelayMs
        ? `maxDelayMs must be >= initialDelayMs, ${policy.initialDelayMs} (got ${policy.maxDelayMs})`
        : undefined,
      checkNumber('multiplier', policy.multiplier, { min: 1 }),
      checkNumber('jitter', policy.jitter, { min: 0, max: 1 }),
    ],
    'retry policy',
  );
  return Object.freeze(policy);
}

/**
 * Delay before the retry that follows delivery `attempt` (1 = the first delivery failed):
 * `initialDelayMs * multiplier^(attempt-1)` capped at `maxDelayMs`, minus a random part of up to
 * `jitter` of it, so that messages failing together do not come back together.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  // initialDelayMs 0 would make 0 * Infinity = NaN for huge exponents.
  const cap =
    policy.initialDelayMs === 0
      ? 0
      : Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** exponent);
  if (policy.jitter === 0) return cap;
  const r = Math.min(1, Math.max(0, random()));
  return cap * (1 - policy.jitter * r);
}
