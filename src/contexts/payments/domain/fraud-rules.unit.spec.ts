import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assessFraud,
  decideFraud,
  FRAUD_RULE_NAMES,
  scoreOf,
  velocityMemory,
  type FraudFacts,
  type FraudRuleHit,
  type FraudRulesConfig,
} from './fraud-rules.ts';
import { regionOfCountry } from './country-regions.ts';

const CONFIG: FraudRulesConfig = {
  threshold: 70,
  amountReview: 200_000,
  velocityWindowMs: 600_000,
  velocityLimit: 5,
};

/** An order no rule objects to: a US customer shipping in NA, a normal amount, a fresh card. */
const CLEAN: FraudFacts = {
  customerId: 'cust-1',
  region: 'NA',
  shippingCountry: 'US',
  amount: 4_999,
  currency: 'USD',
  paymentToken: 'tok_visa.4242',
  customerOrdersInWindow: 1,
  tokenOrdersInWindow: 1,
};

function hitOf(facts: Partial<FraudFacts>, config: FraudRulesConfig = CONFIG) {
  return assessFraud({ ...CLEAN, ...facts }, config);
}

describe('fraud rules', () => {
  it('accept a clean order with score 0 and no hits', () => {
    expect(assessFraud(CLEAN, CONFIG)).toEqual({ score: 0, decision: 'accept', threshold: 70, rules: [] });
  });

  describe('amount', () => {
    it('stays silent at the review threshold and scores just above it, explaining in major units', () => {
      expect(hitOf({ amount: 200_000 }).rules).toEqual([]);
      expect(hitOf({ amount: 200_001 }).rules).toEqual([
        {
          rule: 'amount',
          points: 20,
          detail: 'amount 2,000.01 USD is above the review threshold 2,000.00 USD',
        },
      ]);
    });

    it('scales its points with how far the amount exceeds the threshold', () => {
      expect(hitOf({ amount: 400_001 }).rules[0]).toMatchObject({ rule: 'amount', points: 35 });
      expect(hitOf({ amount: 400_001 }).rules[0]!.detail).toContain('above 2× the review threshold');
      expect(hitOf({ amount: 1_000_001 }).rules[0]).toMatchObject({ rule: 'amount', points: 50 });
      expect(hitOf({ amount: 50_000_000 }).rules[0]).toMatchObject({ rule: 'amount', points: 50 });
    });

    it('formats a zero-decimal currency without decimals', () => {
      expect(hitOf({ amount: 300_000, currency: 'JPY' }).rules[0]!.detail).toBe(
        'amount 300,000 JPY is above the review threshold 200,000 JPY',
      );
    });
  });

  describe('customer velocity', () => {
    it('fires once the customer has more orders in the window than the limit, and says how many', () => {
      expect(hitOf({ customerOrdersInWindow: 5 }).rules).toEqual([]);
      expect(hitOf({ customerOrdersInWindow: 6 }).rules).toEqual([
        {
          rule: 'customer_velocity',
          points: 30,
          detail: '6 orders by customer cust-1 in the last 10 min (limit 5)',
        },
      ]);
    });

    it('adds 10 points per further order up to 70, a rejection on its own', () => {
      expect(hitOf({ customerOrdersInWindow: 7 }).score).toBe(40);
      expect(hitOf({ customerOrdersInWindow: 9 }).score).toBe(60);
      expect(hitOf({ customerOrdersInWindow: 10 })).toMatchObject({ score: 70, decision: 'reject' });
      expect(hitOf({ customerOrdersInWindow: 500 }).score).toBe(70);
    });
  });

  describe('token velocity', () => {
    it('fires per full token (card) above the limit', () => {
      expect(hitOf({ tokenOrdersInWindow: 5 }).rules).toEqual([]);
      expect(hitOf({ tokenOrdersInWindow: 6 }).rules).toEqual([
        {
          rule: 'token_velocity',
          points: 40,
          detail: '6 orders paid with card tok_visa.4242 in the last 10 min (limit 5)',
        },
      ]);
      expect(hitOf({ tokenOrdersInWindow: 9 })).toMatchObject({ score: 70, decision: 'reject' });
    });

    it('uses the configured limit and window in its explanation', () => {
      const config = { ...CONFIG, velocityLimit: 2, velocityWindowMs: 30_000 };
      expect(hitOf({ tokenOrdersInWindow: 3 }, config).rules[0]!.detail).toBe(
        '3 orders paid with card tok_visa.4242 in the last 30 s (limit 2)',
      );
    });
  });

  describe('country mismatch', () => {
    it('stays silent when the shipping country is in the order region', () => {
      expect(hitOf({ region: 'EU', shippingCountry: 'DE' }).rules).toEqual([]);
      expect(hitOf({ region: 'APAC', shippingCountry: 'JP' }).rules).toEqual([]);
    });

    it('fires when the shipping country lies in another region', () => {
      expect(hitOf({ region: 'EU', shippingCountry: 'JP' }).rules).toEqual([
        {
          rule: 'country_mismatch',
          points: 25,
          detail: "shipping country JP is in APAC, outside the order's region EU",
        },
      ]);
    });

    it('counts an unknown country as a mismatch with a low score', () => {
      expect(hitOf({ shippingCountry: 'ZZ' }).rules).toEqual([
        {
          rule: 'country_mismatch',
          points: 10,
          detail: "shipping country ZZ is not in any known region; the order's region is NA",
        },
      ]);
    });

    it('maps common countries to their regions', () => {
      expect(regionOfCountry('US')).toBe('NA');
      expect(regionOfCountry('CA')).toBe('NA');
      expect(regionOfCountry('GB')).toBe('EU');
      expect(regionOfCountry('FR')).toBe('EU');
      expect(regionOfCountry('AU')).toBe('APAC');
      expect(regionOfCountry('SG')).toBe('APAC');
      expect(regionOfCountry('ZZ')).toBeUndefined();
    });
  });

  describe('risky token', () => {
    it('rejects the tok_risky family on its own, whatever the suffix', () => {
      for (const token of ['tok_risky', 'tok_risky.77']) {
        const assessment = hitOf({ paymentToken: token });
        expect(assessment.decision).toBe('reject');
        expect(assessment.rules).toEqual([
          {
            rule: 'risky_token',
            points: 100,
            detail: `payment token ${token} is flagged as high risk by the provider`,
          },
        ]);
      }
    });

    it('scores at least the threshold when the threshold is high', () => {
      const assessment = hitOf({ paymentToken: 'tok_risky' }, { ...CONFIG, threshold: 250 });
      expect(assessment.rules[0]!.points).toBe(250);
      expect(assessment.decision).toBe('reject');
    });

    it('does not fire for other tokens that merely contain the word', () => {
      expect(hitOf({ paymentToken: 'tok_visa.tok_risky' }).rules).toEqual([]);
    });
  });

  describe('decision', () => {
    it('rejects at exactly the threshold and accepts one point below', () => {
      expect(decideFraud(70, 70)).toBe('reject');
      expect(decideFraud(69, 70)).toBe('accept');
      // Two weak signals together: a large amount (35) and a foreign country (25) = 60, accepted...
      expect(hitOf({ amount: 400_001, shippingCountry: 'DE' })).toMatchObject({
        score: 60,
        decision: 'accept',
      });
      // ...and with a threshold of 60 the same order is rejected.
      expect(hitOf({ amount: 400_001, shippingCountry: 'DE' }, { ...CONFIG, threshold: 60 })).toMatchObject({
        score: 60,
        decision: 'reject',
        threshold: 60,
      });
    });

    it('lists every rule that fired, in rule order, and sums them', () => {
      const assessment = hitOf({
        amount: 1_000_001,
        customerOrdersInWindow: 6,
        tokenOrdersInWindow: 6,
        shippingCountry: 'JP',
        paymentToken: 'tok_risky.1',
      });
      expect(assessment.rules.map((hit) => hit.rule)).toEqual([...FRAUD_RULE_NAMES]);
      expect(assessment.score).toBe(50 + 30 + 40 + 25 + 100);
      expect(assessment.decision).toBe('reject');
    });
  });

  it('remembers enough orders per velocity stream for both rules to reach their cap', () => {
    const memory = velocityMemory(CONFIG);
    // With `memory` earlier orders plus this one, both rules are capped; one more changes nothing.
    expect(hitOf({ customerOrdersInWindow: memory + 1, tokenOrdersInWindow: memory + 1 }).score).toBe(140);
    expect(hitOf({ customerOrdersInWindow: memory, tokenOrdersInWindow: memory }).score).toBe(140);
  });
});

const factsArbitrary: fc.Arbitrary<FraudFacts> = fc.record({
  customerId: fc.string({ minLength: 1, maxLength: 8 }),
  region: fc.constantFrom('NA', 'EU', 'APAC'),
  shippingCountry: fc.constantFrom('US', 'CA', 'DE', 'FR', 'GB', 'JP', 'AU', 'ZZ', 'BR'),
  amount: fc.integer({ min: 0, max: 5_000_000 }),
  currency: fc.constantFrom('USD', 'EUR', 'JPY'),
  paymentToken: fc.constantFrom(
    'tok_visa',
    'tok_visa.1',
    'tok_risky',
    'tok_risky.9',
    'tok_declined',
    'tok_x',
  ),
  customerOrdersInWindow: fc.integer({ min: 1, max: 30 }),
  tokenOrdersInWindow: fc.integer({ min: 1, max: 30 }),
});

const configArbitrary: fc.Arbitrary<FraudRulesConfig> = fc.record({
  threshold: fc.integer({ min: 1, max: 300 }),
  amountReview: fc.integer({ min: 1, max: 1_000_000 }),
  velocityWindowMs: fc.integer({ min: 1, max: 3_600_000 }),
  velocityLimit: fc.integer({ min: 1, max: 20 }),
});

const hitArbitrary: fc.Arbitrary<FraudRuleHit> = fc.record({
  rule: fc.constantFrom(...FRAUD_RULE_NAMES),
  points: fc.integer({ min: 0, max: 200 }),
  detail: fc.string(),
});

describe('fraud scoring properties', () => {
  it('the score is the sum of the hits, and the decision is reject exactly when score >= threshold', () => {
    fc.assert(
      fc.property(factsArbitrary, configArbitrary, (facts, config) => {
        const assessment = assessFraud(facts, config);
        expect(assessment.score).toBe(assessment.rules.reduce((sum, hit) => sum + hit.points, 0));
        expect(assessment.decision).toBe(assessment.score >= config.threshold ? 'reject' : 'accept');
        expect(assessment.threshold).toBe(config.threshold);
        for (const hit of assessment.rules) {
          expect(hit.points).toBeGreaterThan(0);
          expect(hit.detail.length).toBeGreaterThan(10);
        }
      }),
    );
  });

  it('adding a rule hit never lowers the score', () => {
    fc.assert(
      fc.property(fc.array(hitArbitrary, { maxLength: 6 }), hitArbitrary, (hits, extra) => {
        expect(scoreOf([...hits, extra])).toBeGreaterThanOrEqual(scoreOf(hits));
      }),
    );
  });

  it('making an order look worse (more amount, more velocity, a risky card) never lowers its score', () => {
    fc.assert(
      fc.property(
        factsArbitrary,
        configArbitrary,
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (facts, config, moreAmount, moreCustomerOrders, moreTokenOrders, risky) => {
          const worse: FraudFacts = {
            ...facts,
            amount: facts.amount + moreAmount,
            customerOrdersInWindow: facts.customerOrdersInWindow + moreCustomerOrders,
            tokenOrdersInWindow: facts.tokenOrdersInWindow + moreTokenOrders,
            paymentToken: risky ? 'tok_risky.x' : facts.paymentToken,
          };
          const before = assessFraud(facts, config);
          const after = assessFraud(worse, config);
          expect(after.score).toBeGreaterThanOrEqual(before.score);
          if (before.decision === 'reject') expect(after.decision).toBe('reject');
        },
      ),
    );
  });
});
