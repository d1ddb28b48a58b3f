import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { estimateCostPerOrder } from './cost-per-order.ts';
import type { KpiProjection } from './kpi-projection.ts';
import { SAGA_STATUSES, STAGES } from './kpi-state.ts';
import type { PriceTable } from './price-table.ts';

export interface KpiMetricsOptions {
  /** `transport.consumerLag()`: messages published and not yet handled, per group. */
  consumerLag: () => Promise<Record<string, number>>;
  /** Dead letters per status (`DeadLetterStore.count`). */
  deadLetters: (status: 'parked' | 'redriven') => Promise<number>;
  /** What `orderflow_estimated_cost_per_order` prices; left out, the gauge is not registered. */
  usage?: {
    prices: PriceTable;
    /** Size of the store now (SQLite file and WAL, or the namespace's PostgreSQL tables). */
    storageBytes: () => Promise<number>;
    /** @default process.cpuUsage() since registration */
    cpuSeconds?: () => number;
    /** @default Date.now */
    now?: () => number;
  };
}

/** Stage durations run from seconds (a fast confirmation) to days (a delivery): 1 s … 7 days. */
export const STAGE_DURATION_BUCKETS = [
  1,
  5,
  15,
  30,
  60,
  300,
  900,
  1800,
  3600,
  4 * 3600,
  12 * 3600,
  86_400,
  2 * 86_400,
  3 * 86_400,
  5 * 86_400,
  7 * 86_400,
];

/**
 * The business and technical figures of DESIGN.md §9 on `registry`, read from the KPI projection at
 * each scrape (counters are set to the projection's totals, so they agree across restarts and
 * processes), and the stage histogram observed as the fold meets each stage end.
 */
export function registerKpiMetrics(
  registry: Registry,
  projection: KpiProjection,
  options: KpiMetricsOptions,
): void {
  const registers = [registry];
  new Counter({
    name: 'orderflow_orders_total',
    help: 'Orders that reached a status (each order once per status; pending at placement), from the store',
    labelNames: ['region', 'status'],
    registers,
    collect() {
      this.reset();
      for (const { region, status, count } of projection.snapshot().orders)
        this.inc({ region, status }, count);
    },
  });
  new Counter({
    name: 'orderflow_orders_ended_total',
    help: 'Orders rejected or cancelled, by reason, from the store',
    labelNames: ['region', 'status', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const { region, status, reason, count } of projection.snapshot().ended) {
        this.inc({ region, status, reason }, count);
      }
    },
  });
  new Counter({
    name: 'orderflow_revenue_total',
    help: 'Captured payment amounts, major units (refunds not subtracted), by the order region',
    labelNames: ['region', 'currency'],
    registers,
    collect() {
      this.reset();
      const { revenue, markets } = projection.snapshot();
      for (const { region, currency } of markets) this.inc({ region, currency }, 0);
      for (const { region, currency, amount } of revenue) this.inc({ region, currency }, amount);
    },
  });
  new Gauge({
    name: 'orderflow_revenue_at_risk',
    help: 'Total (major units) of the orders not ended that are past their stage time objective, parked or dead-lettered',
    labelNames: ['region', 'currency'],
    registers,
    async collect() {
      const atRisk = await projection.revenueAtRisk();
      this.reset();
      for (const { region, currency, amount } of atRisk) this.set({ region, currency }, amount);
    },
  });
  new Counter({
    name: 'orderflow_payment_authorizations_total',
    help: 'Payment authorization attempts by outcome (approved, declined, timed_out, unavailable), from the store',
    labelNames: ['region', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const { region, outcome, count } of projection.snapshot().authorizations) {
        this.inc({ region, outcome }, count);
      }
    },
  });
  const stages = new Histogram({
    name: 'orderflow_order_stage_duration_seconds',
    help: 'Time between order events: placed_to_confirmed, confirmed_to_shipped, placed_to_delivered',
    labelNames: ['stage'],
    buckets: STAGE_DURATION_BUCKETS,
    registers,
  });
  for (const stage of STAGES) stages.zero({ stage });
  projection.onStageEnd(({ stage, seconds }) => stages.observe({ stage }, seconds));
  new Gauge({
    name: 'orderflow_sagas',
    help: 'Order sagas running (compensating included) and parked (needs_attention), from the store',
    labelNames: ['status'],
    registers,
    collect() {
      const { sagas } = projection.snapshot();
      for (const status of SAGA_STATUSES) this.set({ status }, sagas[status]);
    },
  });
  new Gauge({
    name: 'orderflow_dead_letters',
    help: 'Dead letters parked and redriven',
    labelNames: ['status'],
    registers,
    async collect() {
      const [parked, redriven] = await Promise.all([
        options.deadLetters('parked'),
        options.deadLetters('redriven'),
      ]);
      this.set({ status: 'parked' }, parked);
      this.set({ status: 'redriven' }, redriven);
    },
  });
  new Gauge({
    name: 'orderflow_consumer_lag_messages',
    help: 'Messages published to a consumer group and not yet handled',
    labelNames: ['group'],
    registers,
    async collect() {
      const lag = await options.consumerLag();
      this.reset();
      for (const [group, messages] of Object.entries(lag)) this.set({ group }, messages);
    },
  });
  if (options.usage !== undefined) registerCostMetric(registry, projection, options.usage);
}

function registerCostMetric(
  registry: Registry,
  projection: KpiProjection,
  usage: NonNullable<KpiMetricsOptions['usage']>,
): void {
  const now = usage.now ?? Date.now;
  const startedAt = now();
  const cpuAtStart = process.cpuUsage();
  const cpuSeconds =
    usage.cpuSeconds ??
    (() => {
      const { user, system } = process.cpuUsage(cpuAtStart);
      return (user + system) / 1e6;
    });
  new Gauge({
    name: 'orderflow_estimated_cost_per_order',
    help: "This process's CPU and the store's size since start, at the price table's prices, per order placed since start",
    labelNames: ['currency'],
    registers: [registry],
    async collect() {
      const measured = {
        cpuSeconds: cpuSeconds(),
        storageBytes: await usage.storageBytes(),
        elapsedMs: now() - startedAt,
      };
      this.reset();
      for (const { currency, amount } of estimateCostPerOrder(
        measured,
        usage.prices,
        projection.snapshot().placedSinceStart,
      )) {
        this.set({ currency }, amount);
      }
    },
  });
}
