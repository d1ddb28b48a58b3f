import type { Severity } from '../incidents/incident.ts';

/**
 * An alert rule (DESIGN.md §9), as the built-in evaluator runs it and as it is exported to
 * Prometheus. Every condition aggregates without `by`, so a rule has at most one alert.
 */

export type { Severity };

export type MatchOperator = '=' | '!=' | '=~' | '!~';

/** A label matcher; regular expressions are anchored at both ends, as in Prometheus. */
export interface LabelMatcher {
  label: string;
  op: MatchOperator;
  value: string;
}

/** A metric name and label matchers: `orderflow_orders_total{status="pending"}`. */
export interface Selector {
  metric: string;
  matchers: readonly LabelMatcher[];
}

export type ComparisonOperator = '>' | '>=' | '<' | '<=';

/** `aggregate(fn(metric[window])) op value`, or `aggregate(metric) op value` without `fn`. */
export interface ThresholdCondition {
  kind: 'threshold';
  metric: Selector;
  aggregate: 'sum' | 'max';
  fn?: { name: 'rate' | 'increase'; windowMs: number };
  op: ComparisonOperator;
  value: number;
}

/** One window pair of a multi-window, multi-burn-rate rule: both windows must burn `factor` times the budget. */
export interface BurnRateWindow {
  longMs: number;
  shortMs: number;
  factor: number;
}

/**
 * The error ratio of an SLI (`errors / total`, or `1 - good / total`) burning the error budget
 * `1 - objective` too fast on both windows of any pair, with at least `minVolume` events of `total`
 * in that pair's long window.
 */
export interface BurnRateCondition {
  kind: 'burn_rate';
  objective: number;
  errors?: Selector;
  good?: Selector;
  total: Selector;
  windows: readonly BurnRateWindow[];
  minVolume: number;
}

export type AlertCondition = ThresholdCondition | BurnRateCondition;

export interface AlertRule {
  /** `[a-z][a-z0-9_]*`, also the Prometheus `alertname`. */
  name: string;
  severity: Severity;
  /** Alerts of one group join one incident; also the exported rule group. */
  group: string;
  summary: string;
  /** `docs/runbooks/<name>.md` for the built-in rules. */
  runbook: string;
  forMs: number;
  keepFiringForMs: number;
  condition: AlertCondition;
}

export const RULE_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;
