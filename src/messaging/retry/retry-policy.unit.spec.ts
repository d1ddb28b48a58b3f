import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError, InvalidOptionsError } from '../../kernel/errors.ts';
import { backoffDelay, DEFAULT_RETRY_POLICY, resolveRetryPolicy, type RetryPolicy } from './retry-policy.ts';

const policyArbitrary: fc.Arbitrary<RetryPolicy> = fc
  .record({
    maxAttempts: fc.integer({ min: 1, max: 50 }),
    initialDelayMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
    extraMaxDelayMs: fc.double({ min: 0, max: 100_000, noNaN: true }),
    multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ extraMaxDelayMs, ...rest }) =>
    resolveRetryPolicy({ ...rest, maxDelayMs: rest.initialDelayMs + extraMaxDelayMs }),
  );

const attemptArbitrary = fc.integer({ min: 1, max: 2_000 });
const randomArbitrary = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

function capOf(policy: RetryPolicy, attempt: number): number {
  if (policy.initialDelayMs === 0) return 0;
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1));
}

describe('backoffDelay', () => {
  it('stays within [cap * (1 - jitter), cap] and never exceeds maxDelayMs', () => {
    fc.assert(
      fc.property(policyArbitrary, attemptArbitrary, randomArbitrary, (policy, attempt, r) => {
        const delay = backoffDelay(policy, attempt, () => r);
        const cap = capOf(policy, attempt);
        // A relative epsilon absorbs floating-point rounding in the product.
        const epsilon = 1e-9 * Math.max(1, cap);
        expect(delay).toBeGreaterThanOrEqual(cap * (1 - policy.jitter) - epsilon);
        expect(delay).toBeLessThanOrEqual(cap + epsilon);
        expect(delay).toBeLessThanOrEqual(policy.maxDelayMs + epsilon);
        expect(Number.isFinite(delay)).toBe(true);
      }),
    );
  });

  it('has an upper bound that never decreases with the attempt number', () => {
    fc.assert(
      fc.property(policyArbitrary, attemptArbitrary, attemptArbitrary, (policy, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        // random() = 0 removes nothing, so the delay is the bound itself.
        expect(backoffDelay(policy, low, () => 0)).toBeLessThanOrEqual(backoffDelay(policy, high, () => 0));
      }),
    );
  });

  it('is deterministic without jitter', () => {
    fc.assert(
      fc.property(
        policyArbitrary,
        attemptArbitrary,
        randomArbitrary,
        randomArbitrary,
        (p, attempt, r1, r2) => {
          const policy = { ...p, jitter: 0 };
          expect(backoffDelay(policy, attempt, () => r1)).toBe(backoffDelay(policy, attempt, () => r2));
          expect(backoffDelay(policy, attempt, () => r1)).toBe(capOf(policy, attempt));
        },
      ),
    );
  });

  it('grows exponentially from the initial delay with the defaults', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(policy, 30)).toBe(30_000);
  });
});

describe('resolveRetryPolicy', () => {
  it('applies the documented defaults', () => {
    expect(resolveRetryPolicy()).toEqual({
      maxAttempts: 8,
      initialDelayMs: 100,
      maxDelayMs: 30_000,
      multiplier: 2,
      jitter: 0.2,
    });
    expect(resolveRetryPolicy({ maxAttempts: 3, jitter: undefined })).toMatchObject({
      maxAttempts: 3,
      jitter: 0.2,
    });
    expect(Object.isFrozen(resolveRetryPolicy())).toBe(true);
  });

  it('rejects maxDelayMs below initialDelayMs', () => {
    expect(() => resolveRetryPolicy({ initialDelayMs: 500, maxDelayMs: 100 })).toThrow(
      /maxDelayMs must be >= initialDelayMs/,
    );
  });

  it('lists every problem in one error', () => {
    let caught: unknown;
    try {
      resolveRetryPolicy({ maxAttempts: 0, initialDelayMs: -1, multiplier: 0.5, jitter: 2 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    const error = caught as AppError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/maxAttempts must be an integer >= 1/);
    expect(error.message).toMatch(/initialDelayMs must be a finite number >= 0/);
    expect(error.message).toMatch(/multiplier must be a finite number >= 1/);
    expect(error.message).toMatch(/jitter must be a finite number from 0 to 1 \(got 2\)/);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message.split('\n')[0]).toBe('invalid retry policy:');
    expect(error.details?.problems).toHaveLength(4);
  });

  it('rejects non-numbers and non-integers', () => {
    fc.assert(
      fc.property(fc.double({ min: 1.01, max: 100, noNaN: true, noInteger: true }), (maxAttempts) => {
        expect(() => resolveRetryPolicy({ maxAttempts })).toThrow(/maxAttempts/);
      }),
    );
    expect(() => resolveRetryPolicy({ maxDelayMs: Number.POSITIVE_INFINITY })).toThrow(
      /maxDelayMs must be a finite/,
    );
    expect(() => resolveRetryPolicy({ multiplier: Number.NaN })).toThrow(/multiplier/);
  });
});
