import { toMajorUnits } from '../../kernel/money.ts';
import {
  isEnded,
  type KpiOrder,
  type KpiState,
  type OrderStatus,
  type Stage,
  type StageAggregate,
} from './kpi-state.ts';

/**
 * Stage time objectives in milliseconds. Structurally the config's `StageObjectives`
 * (ORDERFLOW_SLO_*), declared here because operations/ does not import config/.
 */
export interface StageObjectives {
  readonly placedToConfirmedMs: number;
  readonly confirmedToShippedMs: number;
  readonly placedToDeliveredMs: number;
}

export interface KpiSnapshot {
  /** Every event the projection reads at or below this store position is folded. */
  position: number;
  orders: { region: string; status: string; count: number }[];
  ended: { region: string; status: string; reason: string; count: number }[];
  /** Captured amounts, major units (refunds are not subtracted). */
  revenue: { region: string; currency: string; amount: number }[];
  authorizations: { region: string; outcome: string; count: number }[];
  stages: Record<Stage, StageAggregate>;
  sagas: { running: number; needs_attention: number };
  /** `region`/`currency` pairs seen (orders placed, payments captured). */
  markets: { region: string; currency: string }[];
  /** Orders placed since this projection's start time, by region. */
  placedSinceStart: { region: string; count: number }[];
}

export type AtRiskReason = 'late' | 'parked' | 'dead_letter';

export interface AtRiskOrder {
  orderId: string;
  region: string;
  currency: string;
  /** The order's total, major units. */
  amount: number;
  vendors: string[];
  /** When the order was placed (ISO). */
  since: string;
  reasons: AtRiskReason[];
  /** The order's status now. */
  stage: OrderStatus;
}

function split<K extends string>(map: ReadonlyMap<string, number>, keys: readonly K[]) {
  return [...map]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, count]) => {
      const parts = key.split('|');
      const labels = Object.fromEntries(keys.map((name, i) => [name, parts[i] ?? ''])) as Record<K, string>;
      return { ...labels, count };
    });
}

export function snapshotOf(state: KpiState): KpiSnapshot {
  return {
    position: state.position,
    orders: split(state.ordersTotal, ['region', 'status']),
    ended: split(state.ordersEnded, ['region', 'status', 'reason']),
    revenue: split(state.revenueMinor, ['region', 'currency']).map(({ region, currency, count }) => ({
      region,
      currency,
      amount: toMajorUnits(count, currency),
    })),
    authorizations: split(state.authorizations, ['region', 'outcome']),
    stages: structuredClone(state.stages),
    sagas: { ...state.sagas },
    markets: [...state.markets].sort().map((market) => {
      const [region = '', currency = ''] = market.split('|');
      return { region, currency };
    }),
    placedSinceStart: split(state.placedSince, ['region']),
  };
}

/**
 * Orders not ended (delivered, rejected, cancelled) that are past their stage's time objective,
 * whose saga is parked (`needs_attention`), or that have a parked dead letter.
 */
export function ordersAtRiskOf(
  state: KpiState,
  options: { now: number; objectives: StageObjectives; deadLettered: ReadonlySet<string> },
): AtRiskOrder[] {
  const { now, objectives, deadLettered } = options;
  const atRisk: AtRiskOrder[] = [];
  for (const order of state.orders.values()) {
    if (isEnded(order.status)) continue;
    const reasons: AtRiskOrder['reasons'] = [];
    if (isLate(order, now, objectives)) reasons.push('late');
    if (order.saga === 'needs_attention') reasons.push('parked');
    if (deadLettered.has(order.orderId)) reasons.push('dead_letter');
    if (reasons.length === 0) continue;
    atRisk.push({
      orderId: order.orderId,
      region: order.region,
      currency: order.currency,
      amount: toMajorUnits(order.total, order.currency),
      vendors: [...order.vendors],
      since: new Date(order.placedAt).toISOString(),
      reasons,
      stage: order.status,
    });
  }
  return atRisk;
}

function isLate(order: KpiOrder, now: number, objectives: StageObjectives): boolean {
  if (now - order.placedAt > objectives.placedToDeliveredMs) return true;
  if (order.status === 'pending') return now - order.placedAt > objectives.placedToConfirmedMs;
  if (order.status === 'confirmed' || order.status === 'partially_shipped') {
    return order.confirmedAt !== undefined && now - order.confirmedAt > objectives.confirmedToShippedMs;
  }
  return false;
}

/** Revenue at risk per region and currency (major units), with a 0 for every market seen. */
export function revenueAtRiskOf(
  state: KpiState,
  atRisk: readonly AtRiskOrder[],
): { region: string; currency: string; amount: number }[] {
  const minor = new Map<string, number>([...state.markets].map((market) => [market, 0]));
  for (const order of atRisk) {
    const key = `${order.region}|${order.currency}`;
    minor.set(key, (minor.get(key) ?? 0) + (state.orders.get(order.orderId)?.total ?? 0));
  }
  return [...minor]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([market, amount]) => {
      const [region = '', currency = ''] = market.split('|');
      return { region, currency, amount: toMajorUnits(amount, currency) };
    });
}
