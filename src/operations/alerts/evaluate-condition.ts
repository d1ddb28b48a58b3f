import type { AlertCondition, BurnRateCondition, Selector, ThresholdCondition } from './alert-rule.ts';
import { extrapolatedRate } from './extrapolated-rate.ts';
import type { SampleHistory } from './sample-history.ts';

/**
 * A condition's value at one instant, with the semantics of the PromQL that exportPrometheusRules
 * writes for it (prometheus-rules.ts), so that both fire on the same series.
 */
export interface ConditionResult {
  active: boolean;
  /** Threshold: the aggregated value; burn rate: the error ratio over the first pair's long window. Null when absent. */
  value: number | null;
}

export function evaluateCondition(
  condition: AlertCondition,
  history: SampleHistory,
  atMs: number,
): ConditionResult {
  return condition.kind === 'threshold'
    ? evaluateThreshold(condition, history, atMs)
    : evaluateBurnRate(condition, history, atMs);
}

/** `sum(...)` of an empty vector is an empty vector, not 0: undefined here. */
function aggregate(values: readonly number[], how: 'sum' | 'max'): number | undefined {
  if (values.length === 0) return undefined;
  if (how === 'sum') return values.reduce((total, value) => total + value, 0);
  // PromQL's max skips NaN unless every value is NaN.
  return values.reduce((max, value) => (Number.isNaN(max) || value > max ? value : max));
}

/** `sum(rate(selector[window]))` or `sum(increase(…))`. */
function sumOfRates(
  history: SampleHistory,
  selector: Selector,
  atMs: number,
  windowMs: number,
  isRate: boolean,
): number | undefined {
  const rates = history
    .range(selector, atMs, windowMs)
    .map((points) => extrapolatedRate(points, atMs - windowMs, atMs, isRate))
    .filter((rate): rate is number => rate !== undefined);
  return aggregate(rates, 'sum');
}

function compare(value: number, op: ThresholdCondition['op'], threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

function evaluateThreshold(
  condition: ThresholdCondition,
  history: SampleHistory,
  atMs: number,
): ConditionResult {
  const value =
    condition.fn === undefined
      ? aggregate(history.instant(condition.metric, atMs), condition.aggregate)
      : aggregate(
          history
            .range(condition.metric, atMs, condition.fn.windowMs)
            .map((points) =>
              extrapolatedRate(points, atMs - condition.fn!.windowMs, atMs, condition.fn!.name === 'rate'),
            )
            .filter((rate): rate is number => rate !== undefined),
          condition.aggregate,
        );
  if (value === undefined) return { active: false, value: null };
  return { active: compare(value, condition.op, condition.value), value };
}

/** `sum(rate(errors[w])) / sum(rate(total[w]))`, or `(total − good) / total`. */
function errorRatio(condition: BurnRateCondition, history: SampleHistory, atMs: number, windowMs: number) {
  const total = sumOfRates(history, condition.total, atMs, windowMs, true);
  const part = sumOfRates(history, (condition.errors ?? condition.good)!, atMs, windowMs, true);
  if (total === undefined || part === undefined) return undefined;
  return condition.errors !== undefined ? part / total : (total - part) / total;
}

/** The burn-rate threshold of a window pair, computed as the exported PromQL writes it. */
export function burnThreshold(factor: number, objective: number): number {
  return factor * (1 - objective);
}

function evaluateBurnRate(
  condition: BurnRateCondition,
  history: SampleHistory,
  atMs: number,
): ConditionResult {
  let active = false;
  let value: number | null = null;
  condition.windows.forEach((window, index) => {
    const long = errorRatio(condition, history, atMs, window.longMs);
    if (index === 0) value = long ?? null;
    if (active || long === undefined) return;
    const threshold = burnThreshold(window.factor, condition.objective);
    const short = errorRatio(condition, history, atMs, window.shortMs);
    const volume = sumOfRates(history, condition.total, atMs, window.longMs, false);
    active =
      long > threshold &&
      short !== undefined &&
      short > threshold &&
      volume !== undefined &&
      volume >= condition.minVolume;
  });
  return { active, value };
}
