import { describe, expect, it } from 'vitest';
import type { AlertRule } from './alert-rule.ts';
import { createAlertEvaluator, type AlertState, type AlertTransition } from './alert-evaluator.ts';
import { BUILT_IN_RULES } from './built-in-rules.ts';
import { SampleHistory } from './sample-history.ts';
import { parseSelector } from './selector.ts';

const MINUTE = 60_000;

const lagRule: AlertRule = {
  name: 'lag',
  severity: 'high',
  group: 'g',
  summary: 's',
  runbook: 'r',
  forMs: 2 * MINUTE,
  keepFiringForMs: 3 * MINUTE,
  condition: { kind: 'threshold', metric: parseSelector('lag'), aggregate: 'max', op: '>', value: 10 },
};

/** Evaluates every minute on gauge `lag` taking `values[i]` at minute i; the states' names, minute by minute. */
function run(rule: AlertRule, values: readonly number[], restore?: readonly AlertState[]) {
  const history = new SampleHistory({ retentionMs: 3_600_000 });
  const evaluator = createAlertEvaluator([rule], restore === undefined ? {} : { restore });
  const transitions: AlertTransition[] = [];
  const states = values.map((value, minute) => {
    history.record(minute * MINUTE, [{ name: 'lag', labels: { group: 'x' }, value }]);
    const result = evaluator.evaluate(history, minute * MINUTE);
    transitions.push(...result.transitions);
    return result.states[0]!.state[0];
  });
  return { states: states.join(''), transitions, evaluator };
}

describe('the alert state machine (Prometheus for / keep_firing_for)', () => {
  it('is pending from the first active evaluation and fires once for has passed', () => {
    // i = inactive, p = pending, f = firing.
    expect(run(lagRule, [0, 20, 20, 20, 20]).states).toBe('ippff');
  });

  it('drops a pending alert at once when the condition stops, and starts over', () => {
    expect(run(lagRule, [20, 20, 0, 20, 20, 20]).states).toBe('ppippf');
  });

  it('keeps firing for keep_firing_for counted from the first evaluation without the condition', () => {
    // Condition stops at minute 3; kept at 3, 4, 5 (3 − 3, 4 − 3, 5 − 3 < 3 minutes), inactive at 6.
    const { states, transitions } = run(lagRule, [20, 20, 20, 0, 0, 0, 0, 0]);
    expect(states).toBe('ppffffii');
    expect(transitions).toEqual([
      { name: 'lag', from: 'inactive', to: 'pending', at: 0, value: 20 },
      { name: 'lag', from: 'pending', to: 'firing', at: 2 * MINUTE, value: 20 },
      { name: 'lag', from: 'firing', to: 'inactive', at: 6 * MINUTE, value: 0 },
    ]);
  });

  it('resets keep_firing_for when the condition comes back', () => {
    expect(run(lagRule, [20, 20, 20, 0, 0, 20, 0, 0, 0, 0]).states).toBe('ppfffffffi');
  });

  it('fires at once without for, in one transition', () => {
    const { states, transitions } = run({ ...lagRule, forMs: 0, keepFiringForMs: 0 }, [20, 0]);
    expect(states).toBe('fi');
    expect(transitions.map((t) => `${t.from}>${t.to}`)).toEqual(['inactive>firing', 'firing>inactive']);
  });

  it('reports the value and the times of the episode, and serializes', () => {
    const { evaluator } = run(lagRule, [0, 20, 30, 40, 0]);
    const [state] = evaluator.states();
    expect(state).toEqual({
      name: 'lag',
      state: 'firing',
      since: 3 * MINUTE,
      activeAt: MINUTE,
      lastActiveAt: 3 * MINUTE,
      keepFiringSince: 4 * MINUTE,
      value: 0,
    });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    // A rule never active: since its first evaluation, value null while its metric is absent.
    const quiet = createAlertEvaluator([lagRule]);
    expect(quiet.states()[0]).toEqual({ name: 'lag', state: 'inactive', since: 0, value: null });
    quiet.evaluate(new SampleHistory({ retentionMs: MINUTE }), 5 * MINUTE);
    expect(quiet.states()[0]).toEqual({ name: 'lag', state: 'inactive', since: 5 * MINUTE, value: null });
  });

  it('restores persisted states: a pending alert fires when for has passed since its activeAt', () => {
    const restored: AlertState[] = [
      { name: 'lag', state: 'pending', since: 0, activeAt: 0, lastActiveAt: 0, value: 20 },
      { name: 'gone', state: 'firing', since: 0, value: 1 },
    ];
    const history = new SampleHistory({ retentionMs: 3_600_000 });
    history.record(2 * MINUTE, [{ name: 'lag', labels: {}, value: 20 }]);
    const evaluator = createAlertEvaluator([lagRule], { restore: restored });
    const { states, transitions } = evaluator.evaluate(history, 2 * MINUTE);
    expect(states.map((s) => s.name)).toEqual(['lag']);
    expect(transitions).toEqual([{ name: 'lag', from: 'pending', to: 'firing', at: 2 * MINUTE, value: 20 }]);
  });
});

describe('burn-rate conditions', () => {
  const rule = BUILT_IN_RULES.find((r) => r.name === 'payment_authorization_availability')!;

  function evaluateAt(minutes: number, approvedPerMinute: number, failedPerMinute: number) {
    const history = new SampleHistory({ retentionMs: 7 * 3_600_000 });
    const evaluator = createAlertEvaluator([rule]);
    let state: AlertState | undefined;
    for (let minute = 0; minute <= minutes; minute++) {
      history.record(minute * MINUTE, [
        {
          name: 'orderflow_payment_authorizations_total',
          labels: { outcome: 'approved' },
          value: minute * approvedPerMinute,
        },
        {
          name: 'orderflow_payment_authorizations_total',
          labels: { outcome: 'timed_out' },
          value: minute * failedPerMinute,
        },
      ]);
      state = evaluator.evaluate(history, minute * MINUTE).states[0];
    }
    return state!;
  }

  it('values the long-window error ratio of the first pair', () => {
    const state = evaluateAt(10, 9, 1);
    expect(state.state).toBe('firing');
    expect(state.value).toBeCloseTo(0.1, 12);
  });

  it('stays quiet within the budget, and below the volume guard', () => {
    expect(evaluateAt(10, 199, 1).state).toBe('inactive');
    // 50 % failing, but 0.2 authorizations a minute: 12 in an hour < 20.
    expect(evaluateAt(60, 0.1, 0.1).state).toBe('inactive');
  });
});
