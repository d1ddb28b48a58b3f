import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../kernel/errors.ts';
import { BUILT_IN_RULES, DEFAULT_BURN_RATE_WINDOWS } from './built-in-rules.ts';
import { loadAlertRules, parseAlertRules } from './load-alert-rules.ts';
import { parseSelector } from './selector.ts';

function problemsOf(text: string): readonly string[] {
  try {
    parseAlertRules(text);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toMatch(/^invalid ORDERFLOW_ALERT_RULES:\n {2}- /);
    return (error as InvalidOptionsError).problems;
  }
  throw new Error('accepted');
}

describe('ORDERFLOW_ALERT_RULES', () => {
  it('is the built-in rules without a file', () => {
    expect(loadAlertRules({})).toEqual(BUILT_IN_RULES);
  });

  it('overrides only the given fields of a built-in rule, inside its condition too', () => {
    const rules = parseAlertRules(`
rules:
  - name: consumer_lag
    for: 10m
    threshold: { value: 20000 }
  - name: intake_availability
    burn_rate: { min_volume: 500, windows: [{ long: 2h, short: 10m, factor: 10 }] }
`);
    expect(rules.map((rule) => rule.name)).toEqual(BUILT_IN_RULES.map((rule) => rule.name));
    const lag = rules.find((rule) => rule.name === 'consumer_lag')!;
    const builtIn = BUILT_IN_RULES.find((rule) => rule.name === 'consumer_lag')!;
    expect(lag).toEqual({ ...builtIn, forMs: 600_000, condition: { ...builtIn.condition, value: 20000 } });
    const intake = rules.find((rule) => rule.name === 'intake_availability')!;
    expect(intake.condition).toMatchObject({
      kind: 'burn_rate',
      objective: 0.999,
      minVolume: 500,
      windows: [{ longMs: 7_200_000, shortMs: 600_000, factor: 10 }],
    });
  });

  it('adds complete new rules (JSON too), with default windows and volume guard', () => {
    const [rule] = parseAlertRules(
      JSON.stringify({
        rules: [
          {
            name: 'checkout_success',
            severity: 'low',
            group: 'checkout',
            summary: 'Checkouts fail',
            runbook: 'https://wiki.example.com/checkout',
            burn_rate: { objective: 0.95, good: 'checkout_total{outcome="ok"}', total: 'checkout_total' },
          },
        ],
      }),
    ).slice(BUILT_IN_RULES.length);
    expect(rule).toEqual({
      name: 'checkout_success',
      severity: 'low',
      group: 'checkout',
      summary: 'Checkouts fail',
      runbook: 'https://wiki.example.com/checkout',
      forMs: 0,
      keepFiringForMs: 0,
      condition: {
        kind: 'burn_rate',
        objective: 0.95,
        good: parseSelector('checkout_total{outcome="ok"}'),
        total: parseSelector('checkout_total'),
        windows: DEFAULT_BURN_RATE_WINDOWS,
        minVolume: 0,
      },
    });
  });

  it('lists every problem at once, each with its rule and field', () => {
    const problems = problemsOf(`
rules:
  - name: Bad-Name
    severity: urgent
    group: g
    summary: s
    runbook: r
    for: 5 minutes
    threshold: { metric: 'x{a=}', aggregate: avg, op: '>', value: 1, window: 5m }
  - name: consumer_lag
    keep_firing_for: soon
    threshold: { value: big }
    colour: red
  - name: half_done
    burn_rate: { objective: 2, errors: 'e', good: 'g', windows: [{ long: 5m, short: 1h, factor: 0 }] }
  - name: half_done
`);
    expect(problems).toEqual([
      'rules[0] (Bad-Name): name must match [a-z][a-z0-9_]* (got "Bad-Name")',
      'rules[0] (Bad-Name): severity must be one of critical, high, medium, low (got "urgent")',
      'rules[0] (Bad-Name): for must be a Prometheus duration like 30s, 5m, 1h (got "5 minutes")',
      'rules[0] (Bad-Name): threshold.metric must be a selector like name{label="value"}: expected a quoted label value at "}" (got "x{a=}")',
      'rules[0] (Bad-Name): threshold.aggregate must be sum or max (got "avg")',
      'rules[0] (Bad-Name): threshold.function is required: rate or increase (with window)',
      'rules[1] (consumer_lag): colour is not a field (use name, severity, group, summary, runbook, for, keep_firing_for, threshold, burn_rate)',
      'rules[1] (consumer_lag): keep_firing_for must be a Prometheus duration like 30s, 5m, 1h (got "soon")',
      'rules[1] (consumer_lag): threshold.value must be a finite number (got "big")',
      'rules[2] (half_done): severity is required: one of critical, high, medium, low',
      'rules[2] (half_done): group is required: a non-empty string',
      'rules[2] (half_done): summary is required: a non-empty string',
      'rules[2] (half_done): runbook is required: a non-empty string (a path or URL)',
      'rules[2] (half_done): burn_rate.objective must be a number between 0 and 1, like 0.999 (got 2)',
      'rules[2] (half_done): burn_rate.total is required: a selector like name{label="value"}',
      'rules[2] (half_done): burn_rate.windows[0].factor must be a number > 0 (got 0)',
      'rules[2] (half_done): burn_rate.windows[0].short must be shorter than long (got "1h")',
      'rules[2] (half_done): burn_rate: give errors or good, not both',
      'rules[3] (half_done): name half_done is given twice',
      'rules[3] (half_done): severity is required: one of critical, high, medium, low',
      'rules[3] (half_done): group is required: a non-empty string',
      'rules[3] (half_done): summary is required: a non-empty string',
      'rules[3] (half_done): runbook is required: a non-empty string (a path or URL)',
      'rules[3] (half_done): threshold or burn_rate is required',
    ]);
  });

  it('refuses a document that is not a rules list, or not YAML, or a file that cannot be read', () => {
    expect(problemsOf('- name: x')).toEqual([
      'ORDERFLOW_ALERT_RULES must be a document with one key, rules: a list of rules',
    ]);
    expect(problemsOf('rules: [')[0]).toMatch(/^ORDERFLOW_ALERT_RULES is not YAML or JSON: /);
    expect(() => loadAlertRules({ file: '/nonexistent/rules.yaml' })).toThrow(
      'invalid ORDERFLOW_ALERT_RULES:\n  - /nonexistent/rules.yaml cannot be read (ENOENT)',
    );
  });
});
