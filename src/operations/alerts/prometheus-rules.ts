import { stringify } from 'yaml';
import type { AlertRule, BurnRateCondition, Selector, ThresholdCondition } from './alert-rule.ts';
import { formatDuration } from './duration.ts';
import { formatSelector } from './selector.ts';

/**
 * The rules as Prometheus rule groups (one group per rule group), for `promtool check rules` and a
 * team's own Prometheus (≥ 2.42 for keep_firing_for). Each expression has the semantics the built-in
 * evaluator implements (evaluate-condition.ts); test/promtool/ proves they fire on the same series.
 */
export function exportPrometheusRules(
  rules: readonly AlertRule[],
  options: { evaluationIntervalMs?: number } = {},
): string {
  const groups = [...new Set(rules.map((rule) => rule.group))].map((group) => ({
    name: `orderflow-${group}`,
    ...(options.evaluationIntervalMs === undefined
      ? {}
      : { interval: formatDuration(options.evaluationIntervalMs) }),
    rules: rules.filter((rule) => rule.group === group).map(prometheusRule),
  }));
  return `# Orderflow alert rules (orderflow ops export-rules); see docs/operations.md.\n${stringify(
    { groups },
    { lineWidth: 0, singleQuote: true },
  )}`;
}

function prometheusRule(rule: AlertRule) {
  return {
    alert: rule.name,
    expr: ruleExpression(rule),
    for: formatDuration(rule.forMs),
    keep_firing_for: formatDuration(rule.keepFiringForMs),
    labels: { severity: rule.severity, group: rule.group },
    annotations: { summary: literalTemplate(rule.summary), runbook_url: literalTemplate(rule.runbook) },
  };
}

/** Annotations are Go templates: text that looks like one is printed as it is. */
function literalTemplate(text: string): string {
  return text.includes('{{') ? `{{ ${JSON.stringify(text)} }}` : text;
}

/** The rule's PromQL. */
export function ruleExpression(rule: AlertRule): string {
  return rule.condition.kind === 'threshold'
    ? thresholdExpression(rule.condition)
    : burnRateExpression(rule.condition);
}

function thresholdExpression(condition: ThresholdCondition): string {
  const inner =
    condition.fn === undefined
      ? formatSelector(condition.metric)
      : `${condition.fn.name}(${formatSelector(condition.metric)}[${formatDuration(condition.fn.windowMs)}])`;
  return `${condition.aggregate}(${inner}) ${condition.op} ${String(condition.value)}`;
}

const sumRate = (selector: Selector, windowMs: number): string =>
  `sum(rate(${formatSelector(selector)}[${formatDuration(windowMs)}]))`;

/** `errors / total` or `(total − good) / total` over `windowMs`, as PromQL. */
export function errorRatioExpression(condition: BurnRateCondition, windowMs: number): string {
  const total = sumRate(condition.total, windowMs);
  // Label-less sums on every side, so that `/`, `-` and `and` match one series with one series.
  return condition.errors !== undefined
    ? `${sumRate(condition.errors, windowMs)} / ${total}`
    : `(${total} - ${sumRate(condition.good!, windowMs)}) / ${total}`;
}

/** `(long > t and short > t and volume >= min) or (…)`: the value is the long-window ratio of the pair that burns. */
function burnRateExpression(condition: BurnRateCondition): string {
  return condition.windows
    .map((window) => {
      // The same arithmetic as the evaluator's burnThreshold, done by Prometheus.
      const threshold = `${String(window.factor)} * (1 - ${String(condition.objective)})`;
      return [
        `(`,
        `  ${errorRatioExpression(condition, window.longMs)} > ${threshold}`,
        `  and ${errorRatioExpression(condition, window.shortMs)} > ${threshold}`,
        `  and sum(increase(${formatSelector(condition.total)}[${formatDuration(window.longMs)}])) >= ${String(condition.minVolume)}`,
        `)`,
      ].join('\n');
    })
    .join('\nor\n');
}
