// The KPI projection's public surface: the projection, its metrics and the price table.
export { createKpiProjection, type KpiProjection, type KpiProjectionOptions } from './kpi-projection.ts';
export { registerKpiMetrics, STAGE_DURATION_BUCKETS, type KpiMetricsOptions } from './kpi-metrics.ts';
export type { AtRiskOrder, AtRiskReason, KpiSnapshot, StageObjectives } from './kpi-snapshot.ts';
export type { Stage, StageEnd } from './kpi-state.ts';
export { DEFAULT_PRICE_TABLE, loadPriceTable, type PriceTable, type RegionPrice } from './price-table.ts';
