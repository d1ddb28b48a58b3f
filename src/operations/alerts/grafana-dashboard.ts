import type { AlertRule, BurnRateCondition } from './alert-rule.ts';
import { formatDuration } from './duration.ts';
import { errorRatioExpression, ruleExpression } from './prometheus-rules.ts';

/**
 * A Grafana dashboard (classic JSON model, schemaVersion 39) over the metrics of DESIGN.md §9: business
 * health first (orders, endings, revenue, revenue at risk, stage durations, cost), then the
 * operations (alerts, incidents, the exported rules' ALERTS, SLI error ratios), then the plumbing
 * (lag, dead letters, sagas). The datasource is a variable, so it imports into any Grafana.
 */

interface PanelSpec {
  title: string;
  description: string;
  targets: { expr: string; legendFormat: string }[];
  unit?: string;
  type?: 'timeseries' | 'table';
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
const WIDTH = 12;
const HEIGHT = 8;

const METRIC_PANELS: readonly PanelSpec[] = [
  {
    title: 'Orders reaching each status (per minute)',
    description:
      'orderflow_orders_total: placed (pending), confirmed, shipped, delivered, rejected, cancelled.',
    targets: [
      { expr: 'sum by (status) (rate(orderflow_orders_total[5m])) * 60', legendFormat: '{{status}}' },
    ],
  },
  {
    title: 'Orders ended, by reason (per minute)',
    description: 'orderflow_orders_ended_total: rejected or cancelled orders.',
    targets: [
      {
        expr: 'sum by (status, reason) (rate(orderflow_orders_ended_total[5m])) * 60',
        legendFormat: '{{status}} {{reason}}',
      },
    ],
  },
  {
    title: 'Captured revenue (per hour)',
    description: 'orderflow_revenue_total, major units per currency.',
    targets: [
      { expr: 'sum by (currency) (increase(orderflow_revenue_total[1h]))', legendFormat: '{{currency}}' },
    ],
  },
  {
    title: 'Revenue at risk',
    description: 'orderflow_revenue_at_risk: orders past their stage objective, parked or dead-lettered.',
    targets: [{ expr: 'sum by (currency) (orderflow_revenue_at_risk)', legendFormat: '{{currency}}' }],
  },
  {
    title: 'Order stage duration (p50, p95)',
    description: 'orderflow_order_stage_duration_seconds per stage.',
    unit: 's',
    targets: [0.5, 0.95].map((quantile) => ({
      expr: `histogram_quantile(${quantile}, sum by (stage, le) (rate(orderflow_order_stage_duration_seconds_bucket[30m])))`,
      legendFormat: `{{stage}} p${quantile * 100}`,
    })),
  },
  {
    title: 'Estimated cost per order',
    description: 'orderflow_estimated_cost_per_order: measured CPU and storage × the price table ÷ orders.',
    targets: [
      { expr: 'max by (currency) (orderflow_estimated_cost_per_order)', legendFormat: '{{currency}}' },
    ],
  },
  {
    title: 'Orderflow alert states',
    description: "orderflow_alerts: the built-in evaluator's state of each rule (1 = in that state).",
    targets: [
      {
        expr: 'max by (alert, severity, state) (orderflow_alerts == 1)',
        legendFormat: '{{alert}} {{state}}',
      },
    ],
  },
  {
    title: 'Incidents',
    description: 'orderflow_incidents by severity and status.',
    targets: [
      { expr: 'sum by (severity, status) (orderflow_incidents)', legendFormat: '{{severity}} {{status}}' },
    ],
  },
  {
    title: 'Consumer lag (messages)',
    description: 'orderflow_consumer_lag_messages per consumer group.',
    targets: [{ expr: 'max by (group) (orderflow_consumer_lag_messages)', legendFormat: '{{group}}' }],
  },
  {
    title: 'Dead letters',
    description: 'orderflow_dead_letters parked / redriven.',
    targets: [{ expr: 'max by (status) (orderflow_dead_letters)', legendFormat: '{{status}}' }],
  },
  {
    title: 'Sagas',
    description: 'orderflow_sagas running / needs_attention.',
    targets: [{ expr: 'max by (status) (orderflow_sagas)', legendFormat: '{{status}}' }],
  },
];

function alertsPanel(rules: readonly AlertRule[]): PanelSpec {
  const names = rules.map((rule) => rule.name).join('|');
  return {
    title: 'Firing and pending alerts (exported rules)',
    description: "Prometheus's ALERTS series of the rules printed by `orderflow ops export-rules`.",
    type: 'table',
    targets: [{ expr: `ALERTS{alertname=~"${names}"}`, legendFormat: '{{alertname}} {{alertstate}}' }],
  };
}

/** The error ratio of a burn-rate rule over its first pair's windows, with the rule's own expression. */
function sliPanel(rule: AlertRule, condition: BurnRateCondition): PanelSpec {
  const first = condition.windows[0]!;
  return {
    title: `SLI error ratio: ${rule.name}`,
    description: `${rule.summary}. Objective ${condition.objective}; the alert: ${ruleExpression(rule).replace(/\s+/g, ' ')}`,
    unit: 'percentunit',
    targets: [
      {
        expr: errorRatioExpression(condition, first.shortMs),
        legendFormat: `error ratio (${formatDuration(first.shortMs)})`,
      },
      {
        expr: errorRatioExpression(condition, first.longMs),
        legendFormat: `error ratio (${formatDuration(first.longMs)})`,
      },
      { expr: String(1 - condition.objective), legendFormat: 'error budget' },
    ],
  };
}

export function exportGrafanaDashboard(rules: readonly AlertRule[]): Record<string, unknown> {
  const slis = rules.flatMap((rule) =>
    rule.condition.kind === 'burn_rate' ? [sliPanel(rule, rule.condition)] : [],
  );
  const specs = [...METRIC_PANELS, alertsPanel(rules), ...slis];
  const panels = specs.map((spec, index) => ({
    id: index + 1,
    type: spec.type ?? 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { x: (index % 2) * WIDTH, y: Math.floor(index / 2) * HEIGHT, w: WIDTH, h: HEIGHT },
    fieldConfig: { defaults: spec.unit === undefined ? {} : { unit: spec.unit }, overrides: [] },
    options: {},
    targets: spec.targets.map((target, t) => ({
      refId: String.fromCharCode(65 + t),
      datasource: DATASOURCE,
      expr: target.expr,
      legendFormat: target.legendFormat,
    })),
  }));
  return {
    title: 'Orderflow',
    uid: 'orderflow-overview',
    description: 'Business health first, then operations and plumbing (docs/operations.md).',
    tags: ['orderflow'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    timezone: 'utc',
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}
