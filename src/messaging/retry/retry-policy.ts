import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
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
 * Throws one CONFIG_INVALID error listing every problem.
 */
export function resolveRetryPolicy(options: Partial<RetryPolicyOptions> = {}): RetryPolicy {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const policy: RetryPolicyOptions = { ...DEFAULT_RETRY_POLICY, ...defined };
  const problems: string[] = [];
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    problems.push(`maxAttempts must be an integer >= 1 (got ${String(policy.maxAttempts)})`);
  }
  if (!Number.isFinite(policy.initialDelayMs) || policy.initialDelayMs < 0) {
    problems.push(`initialDelayMs must be a finite number >= 0 (got ${String(policy.initialDelayMs)})`);
  }
  if (!Number.isFinite(policy.maxDelayMs) || policy.maxDelayMs < 0) {
    problems.push(`maxDelayMs must be a finite number >= 0 (got ${String(policy.maxDelayMs)})`);
  } else if (Number.isFinite(policy.initialDelayMs) && policy.maxDelayMs < policy.initialDelayMs) {
    problems.push(
      `maxDelayMs must be >= initialDelayMs (got maxDelayMs ${policy.maxDelayMs}, initialDelayMs ${policy.initialDelayMs})`,
    );
  }
  if (!Number.isFinite(policy.multiplier) || policy.multiplier < 1) {
    problems.push(`multiplier must be a finite number >= 1 (got ${String(policy.multiplier)})`);
  }
  if (!Number.isFinite(policy.jitter) || policy.jitter < 0 || policy.jitter > 1) {
    problems.push(`jitter must be between 0 and 1 (got ${String(policy.jitter)})`);
  }
  if (problems.length > 0) {
    throw new AppError(ERROR_CODES.CONFIG_INVALID, `invalid retry policy: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
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
