import type { AlertRule, BurnRateWindow, Selector } from './alert-rule.ts';
import { parseSelector } from './selector.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The SRE workbook's page-worthy pairs: 2 % of a 30-day budget in 1 h, 5 % in 6 h. */
export const DEFAULT_BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { longMs: HOUR, shortMs: 5 * MINUTE, factor: 14.4 },
  { longMs: 6 * HOUR, shortMs: 30 * MINUTE, factor: 6 },
];

const selector = (text: string): Selector => parseSelector(text);
const runbook = (name: string): string => `docs/runbooks/${name}.md`;

const INTAKE = 'route="/v1/orders",method="POST"';

/** The rules of DESIGN.md §9; docs/operations.md tables them and docs/runbooks/ has one runbook each. */
export const BUILT_IN_RULES: readonly AlertRule[] = [
  {
    name: 'order_confirmation_success',
    severity: 'critical',
    group: 'order-flow',
    summary:
      'Placed orders are being rejected for timeouts or failed fulfillment faster than the 99 % objective allows',
    runbook: runbook('order_confirmation_success'),
    forMs: 2 * MINUTE,
    keepFiringForMs: 5 * MINUTE,
    condition: {
      kind: 'burn_rate',
      objective: 0.99,
      errors: selector(
        'orderflow_orders_ended_total{status="rejected",reason=~"timeout|fulfillment_failed"}',
      ),
      total: selector('orderflow_orders_total{status="pending"}'),
      windows: DEFAULT_BURN_RATE_WINDOWS,
      minVolume: 20,
    },
  },
  {
    name: 'payment_authorization_availability',
    severity: 'critical',
    group: 'order-flow',
    summary:
      'Payment authorizations are timing out or finding the gateway unavailable faster than the 99.5 % objective allows',
    runbook: runbook('payment_authorization_availability'),
    forMs: 2 * MINUTE,
    keepFiringForMs: 5 * MINUTE,
    condition: {
      kind: 'burn_rate',
      objective: 0.995,
      errors: selector('orderflow_payment_authorizations_total{outcome=~"timed_out|unavailable"}'),
      total: selector('orderflow_payment_authorizations_total'),
      windows: DEFAULT_BURN_RATE_WINDOWS,
      minVolume: 20,
    },
  },
  {
    name: 'intake_availability',
    severity: 'critical',
    group: 'intake',
    summary: 'POST /v1/orders answers 5xx faster than the 99.9 % availability objective allows',
    runbook: runbook('intake_availability'),
    forMs: 2 * MINUTE,
    keepFiringForMs: 5 * MINUTE,
    condition: {
      kind: 'burn_rate',
      objective: 0.999,
      errors: selector(`orderflow_http_requests_total{${INTAKE},status=~"5.."}`),
      total: selector(`orderflow_http_requests_total{${INTAKE}}`),
      windows: DEFAULT_BURN_RATE_WINDOWS,
      minVolume: 50,
    },
  },
  {
    name: 'intake_latency',
    severity: 'high',
    group: 'intake',
    summary: 'More than 1 % of POST /v1/orders requests take over 250 ms, faster than the objective allows',
    runbook: runbook('intake_latency'),
    forMs: 5 * MINUTE,
    keepFiringForMs: 5 * MINUTE,
    condition: {
      kind: 'burn_rate',
      objective: 0.99,
      good: selector(`orderflow_http_request_duration_seconds_bucket{${INTAKE},le="0.25"}`),
      total: selector(`orderflow_http_request_duration_seconds_count{${INTAKE}}`),
      windows: DEFAULT_BURN_RATE_WINDOWS,
      minVolume: 50,
    },
  },
  {
    name: 'revenue_at_risk',
    severity: 'high',
    group: 'order-flow',
    summary: 'Orders are past their stage time objective, parked or dead-lettered: their revenue is at risk',
    runbook: runbook('revenue_at_risk'),
    forMs: 2 * MINUTE,
    keepFiringForMs: 5 * MINUTE,
    condition: {
      kind: 'threshold',
      metric: selector('orderflow_revenue_at_risk'),
      aggregate: 'sum',
      op: '>',
      value: 0,
    },
  },
  {
    name: 'dead_letters_parked',
    severity: 'medium',
    group: 'order-flow',
    summary: 'Messages are parked in the dead-letter store and wait for an operator',
    runbook: runbook('dead_letters_parked'),
    forMs: MINUTE,
    keepFiringForMs: 0,
    condition: {
      kind: 'threshold',
      metric: selector('orderflow_dead_letters{status="parked"}'),
      aggregate: 'max',
      op: '>',
      value: 0,
    },
  },
  {
    name: 'consumer_lag',
    severity: 'high',
    group: 'order-flow',
    summary: 'A consumer group is more than 5000 messages behind',
    runbook: runbook('consumer_lag'),
    forMs: 5 * MINUTE,
    keepFiringForMs: 2 * MINUTE,
    condition: {
      kind: 'threshold',
      metric: selector('orderflow_consumer_lag_messages'),
      aggregate: 'max',
      op: '>',
      value: 5000,
    },
  },
  {
    name: 'stuck_sagas',
    severity: 'medium',
    group: 'order-flow',
    summary: 'Order sagas are parked as needs_attention and wait for an operator',
    runbook: runbook('stuck_sagas'),
    forMs: MINUTE,
    keepFiringForMs: 0,
    condition: {
      kind: 'threshold',
      metric: selector('orderflow_sagas{status="needs_attention"}'),
      aggregate: 'max',
      op: '>',
      value: 0,
    },
  },
];
