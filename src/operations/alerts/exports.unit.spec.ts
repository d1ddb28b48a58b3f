import { Registry, Counter, Histogram, Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUILT_IN_RULES } from './built-in-rules.ts';
import { exportGrafanaDashboard } from './grafana-dashboard.ts';
import { parseAlertRules } from './load-alert-rules.ts';
import { exportPrometheusRules, ruleExpression } from './prometheus-rules.ts';
import { samplesOfRegistry } from './registry-samples.ts';

/** The metric table of DESIGN.md §9, every one of which the dashboard shows. */
const DESIGN_METRICS = [
  'orderflow_orders_total',
  'orderflow_orders_ended_total',
  'orderflow_revenue_total',
  'orderflow_revenue_at_risk',
  'orderflow_order_stage_duration_seconds',
  'orderflow_consumer_lag_messages',
  'orderflow_dead_letters',
  'orderflow_sagas',
  'orderflow_alerts',
  'orderflow_incidents',
  'orderflow_estimated_cost_per_order',
];

describe('exportPrometheusRules', () => {
  it('writes one group per rule group, with for, keep_firing_for, labels and annotations', () => {
    const exported = parse(exportPrometheusRules(BUILT_IN_RULES, { evaluationIntervalMs: 5000 })) as {
      groups: { name: string; interval: string; rules: Record<string, unknown>[] }[];
    };
    expect(exported.groups.map((group) => [group.name, group.interval, group.rules.length])).toEqual([
      ['orderflow-order-flow', '5s', 6],
      ['orderflow-intake', '5s', 2],
    ]);
    expect(exported.groups[0]!.rules.find((rule) => rule.alert === 'consumer_lag')).toEqual({
      alert: 'consumer_lag',
      expr: 'max(orderflow_consumer_lag_messages) > 5000',
      for: '5m',
      keep_firing_for: '2m',
      labels: { severity: 'high', group: 'order-flow' },
      annotations: {
        summary: 'A consumer group is more than 5000 messages behind',
        runbook_url: 'docs/runbooks/consumer_lag.md',
      },
    });
  });

  it('prints rate thresholds and escapes template-like text', () => {
    const [rule] = parseAlertRules(`
rules:
  - { name: r, severity: low, group: g, summary: 'a {{ b }}', runbook: x, threshold: { metric: 'm{a!~"b|c"}', aggregate: sum, function: increase, window: 1h30m, op: '<=', value: -2.5 } }
`).slice(BUILT_IN_RULES.length);
    expect(ruleExpression(rule!)).toBe('sum(increase(m{a!~"b|c"}[1h30m])) <= -2.5');
    expect(exportPrometheusRules([rule!])).toContain(`summary: '{{ "a {{ b }}" }}'`);
  });
});

describe('exportGrafanaDashboard', () => {
  const dashboard = JSON.parse(JSON.stringify(exportGrafanaDashboard(BUILT_IN_RULES))) as {
    title: string;
    uid: string;
    schemaVersion: number;
    time: { from: string; to: string };
    templating: { list: { name: string; type: string; query: string }[] };
    panels: {
      id: number;
      type: string;
      title: string;
      datasource: { uid: string };
      gridPos: { x: number; y: number; w: number; h: number };
      targets: { refId: string; expr: string; datasource: { uid: string } }[];
    }[];
  };

  it('is a classic dashboard model with a Prometheus datasource variable', () => {
    expect(dashboard).toMatchObject({
      title: 'Orderflow',
      uid: 'orderflow-overview',
      time: { from: 'now-6h', to: 'now' },
    });
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid).toBe('${datasource}');
      expect(panel.gridPos.w * panel.gridPos.h).toBeGreaterThan(0);
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.refId).toMatch(/^[A-Z]$/);
    }
  });

  it('has a panel for each metric of DESIGN §9, the alert states, and each burn-rate SLI', () => {
    for (const metric of DESIGN_METRICS) {
      const panel = dashboard.panels.find((p) =>
        p.targets.some((t) => new RegExp(`\\b${metric}(_bucket)?\\b`).test(t.expr)),
      );
      expect(panel, metric).toBeDefined();
    }
    const alerts = dashboard.panels.find((p) => p.targets.some((t) => t.expr.startsWith('ALERTS{')))!;
    for (const rule of BUILT_IN_RULES) expect(alerts.targets[0]!.expr).toContain(rule.name);
    const slis = dashboard.panels.filter((p) => p.title.startsWith('SLI error ratio: '));
    expect(slis.map((p) => p.title.slice('SLI error ratio: '.length))).toEqual(
      BUILT_IN_RULES.filter((rule) => rule.condition.kind === 'burn_rate').map((rule) => rule.name),
    );
  });
});

describe('samplesOfRegistry', () => {
  it('gives counters, gauges and histogram series with le as the text exposition prints it', async () => {
    const registry = new Registry();
    new Counter({ name: 'c_total', help: 'c', labelNames: ['outcome'], registers: [registry] }).inc(
      { outcome: 'ok' },
      3,
    );
    new Gauge({ name: 'g', help: 'g', registers: [registry] }).set(7);
    new Histogram({
      name: 'h_seconds',
      help: 'h',
      labelNames: ['route'],
      buckets: [0.25, 1],
      registers: [registry],
    }).observe({ route: '/v1/orders' }, 0.5);
    expect(await samplesOfRegistry(registry)).toEqual([
      { name: 'c_total', labels: { outcome: 'ok' }, value: 3 },
      { name: 'g', labels: {}, value: 7 },
      { name: 'h_seconds_bucket', labels: { le: '0.25', route: '/v1/orders' }, value: 0 },
      { name: 'h_seconds_bucket', labels: { le: '1', route: '/v1/orders' }, value: 1 },
      { name: 'h_seconds_bucket', labels: { le: '+Inf', route: '/v1/orders' }, value: 1 },
      { name: 'h_seconds_sum', labels: { route: '/v1/orders' }, value: 0.5 },
      { name: 'h_seconds_count', labels: { route: '/v1/orders' }, value: 1 },
    ]);
  });
});
