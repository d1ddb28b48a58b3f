import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUILT_IN_RULES,
  createAlertEvaluator,
  parseSelector,
  SampleHistory,
  type AlertRule,
} from '../../src/operations/alerts/index.ts';
import { parseDuration } from '../../src/operations/alerts/duration.ts';
import { extrapolatedRate } from '../../src/operations/alerts/extrapolated-rate.ts';
import {
  expandSeriesValues,
  promtoolTestFiles,
  readPromtoolTestFile,
  seriesIdentity,
  type PromtoolTestGroup,
} from './promtool-test-file.ts';

// The built-in evaluator run on the series and expectations of test/promtool/*.test.yml, which CI
// also runs through `promtool test rules` on the exported rules: both must agree, step for step.

function duration(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`bad duration ${text}`);
  return ms;
}

function historyOf(group: PromtoolTestGroup): SampleHistory {
  const intervalMs = duration(group.interval, 60_000);
  const history = new SampleHistory({ retentionMs: Number.MAX_SAFE_INTEGER });
  for (const input of group.input_series) {
    const series = seriesIdentity(input.series);
    expandSeriesValues(input.values).forEach((value, step) => {
      if (value === 'stale') history.markStale(step * intervalMs, series);
      else if (value !== undefined) history.add(step * intervalMs, { ...series, value });
    });
  }
  return history;
}

type Firing = { labels: Record<string, string>; annotations: Record<string, string> };

/** promtool compares an eval_time with the last evaluation at or before it (one every evaluation_interval). */
function firingAt(rules: readonly AlertRule[], group: PromtoolTestGroup, evaluationMs: number) {
  const history = historyOf(group);
  const evalTimes = (group.alert_rule_test ?? []).map((test) => duration(test.eval_time, 0));
  const evaluator = createAlertEvaluator(rules);
  const firing = new Map<number, Map<string, Firing[]>>();
  for (let at = 0; at <= Math.max(0, ...evalTimes); at += evaluationMs) {
    const { states } = evaluator.evaluate(history, at);
    const byName = new Map<string, Firing[]>();
    for (const state of states) {
      const rule = rules.find((r) => r.name === state.name)!;
      byName.set(
        state.name,
        state.state === 'firing'
          ? [
              {
                labels: { severity: rule.severity, group: rule.group },
                annotations: { summary: rule.summary, runbook_url: rule.runbook },
              },
            ]
          : [],
      );
    }
    firing.set(at, byName);
  }
  return (evalTime: number, alertname: string): Firing[] =>
    firing.get(Math.floor(evalTime / evaluationMs) * evaluationMs)!.get(alertname) ?? [];
}

const files = promtoolTestFiles();

describe('the promtool tests, run on the built-in evaluator', () => {
  it('covers every built-in rule with a case where it fires and one where it does not', () => {
    const cases = files.flatMap((file) =>
      readPromtoolTestFile(file).tests.flatMap((group) => group.alert_rule_test ?? []),
    );
    for (const rule of BUILT_IN_RULES) {
      const mine = cases.filter((test) => test.alertname === rule.name);
      expect(
        mine.some((test) => test.exp_alerts.length > 0),
        `${rule.name} fires somewhere`,
      ).toBe(true);
      expect(
        mine.some((test) => test.exp_alerts.length === 0),
        `${rule.name} is quiet somewhere`,
      ).toBe(true);
    }
  });

  describe.each(files.map((file) => [path.basename(file), file]))('%s', (_name, file) => {
    const testFile = readPromtoolTestFile(file);
    expect(testFile.rule_files).toEqual(['orderflow-rules.yml']);
    const evaluationMs = duration(testFile.evaluation_interval, 60_000);

    it.each(testFile.tests.map((group, index) => [group.name ?? `test ${index}`, group]))(
      '%s',
      (_title, group) => {
        const firing = firingAt(BUILT_IN_RULES, group, evaluationMs);
        for (const test of group.alert_rule_test ?? []) {
          const expected = test.exp_alerts.map((alert) => ({
            labels: alert.exp_labels ?? {},
            annotations: alert.exp_annotations ?? {},
          }));
          expect(
            firing(duration(test.eval_time, 0), test.alertname),
            `${test.alertname} at ${test.eval_time}`,
          ).toEqual(expected);
        }
        for (const test of group.promql_expr_test ?? []) {
          const match = /^(rate|increase)\((.+)\[(\w+)\]\)$/.exec(test.expr);
          if (match === null)
            throw new Error(`the differential test reads rate() and increase() only: ${test.expr}`);
          const [, fn, selectorText, window] = match;
          const at = duration(test.eval_time, 0);
          const windowMs = duration(window, 0);
          const got = historyOf(group)
            .range(parseSelector(selectorText!), at, windowMs)
            .map((points) => extrapolatedRate(points, at - windowMs, at, fn === 'rate'))
            .filter((value) => value !== undefined);
          expect(got, test.expr).toHaveLength(test.exp_samples.length);
          test.exp_samples.forEach((sample, i) =>
            expect(got[i], `${test.expr} at ${test.eval_time}`).toBeCloseTo(sample.value, 9),
          );
        }
      },
    );
  });
});
