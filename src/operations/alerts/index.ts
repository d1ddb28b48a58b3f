// The alert rules engine (DESIGN.md §9 "Alerts" and "Exports"): pure, but for reading the rules
// file. The operations role samples the metrics into a SampleHistory, evaluates, persists the states.
export type {
  AlertCondition,
  AlertRule,
  BurnRateCondition,
  BurnRateWindow,
  ComparisonOperator,
  LabelMatcher,
  MatchOperator,
  Selector,
  Severity,
  ThresholdCondition,
} from './alert-rule.ts';
export {
  createAlertEvaluator,
  type AlertEvaluation,
  type AlertEvaluator,
  type AlertEvaluatorOptions,
  type AlertState,
  type AlertStateName,
  type AlertTransition,
} from './alert-evaluator.ts';
export { BUILT_IN_RULES, DEFAULT_BURN_RATE_WINDOWS } from './built-in-rules.ts';
export { exportGrafanaDashboard } from './grafana-dashboard.ts';
export { loadAlertRules, parseAlertRules } from './load-alert-rules.ts';
export { exportPrometheusRules, ruleExpression } from './prometheus-rules.ts';
export { samplesOfRegistry } from './registry-samples.ts';
export { LOOKBACK_MS, requiredRetentionMs, SampleHistory, type Sample } from './sample-history.ts';
export { parseSelector, formatSelector } from './selector.ts';
