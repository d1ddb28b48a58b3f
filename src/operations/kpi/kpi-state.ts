import type { StoredEvent } from '../../event-store/index.ts';
import {
  KPI_EVENTS as E,
  ORDER_SAGA_STREAM_PREFIX,
  ORDER_STREAM_PREFIX,
  SAGA_STATUS_EVENTS,
} from './kpi-events.ts';

/**
 * The KPI projection's state and its fold. `evolveKpi` is deterministic and does no I/O and reads
 * no clock (times are the events'); it updates the state it is given and returns it, because a
 * projection of the whole store cannot copy its maps at every event. Figures that depend on the
 * time now (revenue at risk) are computed from the state by `ordersAtRiskOf`.
 */

export { ORDER_STATUSES, type OrderStatus } from '../../contexts/orders/messages.ts';
import type { OrderStatus } from '../../contexts/orders/messages.ts';

export const STAGES = ['placed_to_confirmed', 'confirmed_to_shipped', 'placed_to_delivered'] as const;
export type Stage = (typeof STAGES)[number];

export const AUTHORIZATION_OUTCOMES = ['approved', 'declined', 'timed_out', 'unavailable'] as const;
export type AuthorizationOutcome = (typeof AUTHORIZATION_OUTCOMES)[number];

export const SAGA_STATUSES = ['running', 'needs_attention'] as const;
type SagaStatus = (typeof SAGA_STATUSES)[number] | 'ended';

/** Region of events whose order the store does not hold (a stream written without OrderPlaced). */
export const UNKNOWN_REGION = 'unknown';

type ShipmentStatus = 'allocated' | 'dispatched' | 'delivered' | 'cancelled';

/** One order as the KPIs need it. Times are epoch milliseconds of the stored events. */
export interface KpiOrder {
  readonly orderId: string;
  readonly region: string;
  readonly currency: string;
  /** Minor units. */
  readonly total: number;
  readonly vendors: readonly string[];
  status: OrderStatus;
  readonly reached: Set<OrderStatus>;
  readonly placedAt: number;
  confirmedAt?: number;
  shippedAt?: number;
  deliveredAt?: number;
  /** Dropped when the order ends. */
  shipments: Map<string, ShipmentStatus>;
  saga?: SagaStatus;
}

export interface StageAggregate {
  count: number;
  sumSeconds: number;
}

export interface KpiState {
  /** Every event the projection reads at or below this position is folded. */
  position: number;
  readonly orders: Map<string, KpiOrder>;
  /** Keys `region|status`. */
  readonly ordersTotal: Map<string, number>;
  /** Keys `region|status|reason`. */
  readonly ordersEnded: Map<string, number>;
  /** Captured amounts in minor units; keys `region|currency`. */
  readonly revenueMinor: Map<string, number>;
  /** Keys `region|outcome`. */
  readonly authorizations: Map<string, number>;
  readonly stages: Record<Stage, StageAggregate>;
  readonly sagas: Record<(typeof SAGA_STATUSES)[number], number>;
  /** `region|currency` of every order and capture seen: revenue series start at 0 for each. */
  readonly markets: Set<string>;
  /** Orders placed at or after `countPlacedSince`, by region (the cost-per-order denominator). */
  readonly placedSince: Map<string, number>;
  readonly countPlacedSince: number;
}

export interface StageEnd {
  stage: Stage;
  seconds: number;
}

const ENDED: ReadonlySet<OrderStatus> = new Set(['delivered', 'rejected', 'cancelled']);

export function isEnded(status: OrderStatus): boolean {
  return ENDED.has(status);
}

/** @param countPlacedSince epoch ms: orders placed from then on are counted in `placedSince`. */
export function createKpiState(countPlacedSince = 0): KpiState {
  return {
    position: -1,
    orders: new Map(),
    ordersTotal: new Map(),
    ordersEnded: new Map(),
    revenueMinor: new Map(),
    authorizations: new Map(),
    stages: {
      placed_to_confirmed: { count: 0, sumSeconds: 0 },
      confirmed_to_shipped: { count: 0, sumSeconds: 0 },
      placed_to_delivered: { count: 0, sumSeconds: 0 },
    },
    sagas: { running: 0, needs_attention: 0 },
    markets: new Set(),
    placedSince: new Map(),
    countPlacedSince,
  };
}

function add(map: Map<string, number>, key: string, amount = 1): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

interface OrderRef {
  orderId?: unknown;
}

/**
 * Folds one stored event. `onStageEnd` hears each stage the event ends (for the stage histogram),
 * with its duration from the events' times.
 */
export function evolveKpi(
  state: KpiState,
  event: StoredEvent,
  onStageEnd: (end: StageEnd) => void = () => undefined,
): KpiState {
  if (event.position > state.position) state.position = event.position;
  const at = Date.parse(event.time);
  const stageEnd = (stage: Stage, from: number | undefined): void => {
    if (from === undefined) return;
    const seconds = Math.max(0, (at - from) / 1000);
    state.stages[stage].count += 1;
    state.stages[stage].sumSeconds += seconds;
    onStageEnd({ stage, seconds });
  };

  if (event.streamId.startsWith(ORDER_SAGA_STREAM_PREFIX)) {
    const next = SAGA_STATUS_EVENTS[event.type as keyof typeof SAGA_STATUS_EVENTS] as SagaStatus | undefined;
    if (next === undefined) return state;
    const orderId = event.streamId.slice(ORDER_SAGA_STREAM_PREFIX.length);
    const order = state.orders.get(orderId);
    if (order === undefined) return state;
    const previous = order.saga;
    if (previous === next || previous === 'ended') return state;
    if (previous !== undefined) state.sagas[previous] -= 1;
    if (next !== 'ended') state.sagas[next] += 1;
    order.saga = next;
    return state;
  }

  if (event.type === E.orderPlaced && event.streamId.startsWith(ORDER_STREAM_PREFIX)) {
    const data = event.data as {
      orderId: string;
      region: string;
      currency: string;
      total: number;
      items: { vendorId: string }[];
    };
    if (state.orders.has(data.orderId)) return state;
    const order: KpiOrder = {
      orderId: data.orderId,
      region: data.region,
      currency: data.currency,
      total: data.total,
      vendors: [...new Set(data.items.map((item) => item.vendorId))],
      status: 'pending',
      reached: new Set(),
      placedAt: at,
      shipments: new Map(),
    };
    state.orders.set(order.orderId, order);
    state.markets.add(`${order.region}|${order.currency}`);
    reach(state, order, 'pending');
    if (at >= state.countPlacedSince) add(state.placedSince, order.region);
    return state;
  }

  const orderId = (event.data as OrderRef | null)?.orderId;
  if (typeof orderId !== 'string') return state;
  const order = state.orders.get(orderId);
  const region = order?.region ?? UNKNOWN_REGION;

  switch (event.type) {
    case E.paymentAuthorized:
      add(state.authorizations, `${region}|approved`);
      return state;
    case E.paymentDeclined:
      add(state.authorizations, `${region}|declined`);
      return state;
    case E.paymentTimedOut:
      add(state.authorizations, `${region}|timed_out`);
      return state;
    case E.paymentGatewayUnavailable:
      add(state.authorizations, `${region}|unavailable`);
      return state;
    case E.paymentCaptured: {
      const { amount, currency } = event.data as { amount: number; currency: string };
      add(state.revenueMinor, `${region}|${currency}`, amount);
      state.markets.add(`${region}|${currency}`);
      return state;
    }
  }
  if (order === undefined) return state;
  if (isOrderEvent(event.type) && !event.streamId.startsWith(ORDER_STREAM_PREFIX)) return state;

  switch (event.type) {
    case E.orderConfirmed:
      if (isEnded(order.status) || order.confirmedAt !== undefined) return state;
      order.confirmedAt = at;
      stageEnd('placed_to_confirmed', order.placedAt);
      reach(state, order, 'confirmed');
      moveTo(order, shippingStatus(order.shipments, 'confirmed'));
      return state;
    case E.orderRejected:
    case E.orderCancelled: {
      if (isEnded(order.status)) return state;
      const status = event.type === E.orderRejected ? 'rejected' : 'cancelled';
      const { reason } = event.data as { reason: string };
      end(state, order, status);
      add(state.ordersEnded, `${order.region}|${status}|${reason}`);
      return state;
    }
    case E.orderDelivered:
      if (isEnded(order.status)) return state;
      order.deliveredAt = at;
      stageEnd('placed_to_delivered', order.placedAt);
      end(state, order, 'delivered');
      return state;
  }

  if (isEnded(order.status)) return state;
  switch (event.type) {
    case E.shipmentAllocated: {
      const { shipmentId } = event.data as { shipmentId: string };
      if (!order.shipments.has(shipmentId)) order.shipments.set(shipmentId, 'allocated');
      break;
    }
    case E.shipmentDispatched:
      order.shipments.set((event.data as { shipmentId: string }).shipmentId, 'dispatched');
      break;
    case E.shipmentDelivered:
      order.shipments.set((event.data as { shipmentId: string }).shipmentId, 'delivered');
      break;
    case E.shipmentsCancelled:
      for (const id of (event.data as { shipmentIds: string[] }).shipmentIds) {
        if (order.shipments.has(id)) order.shipments.set(id, 'cancelled');
      }
      break;
    default:
      return state;
  }
  moveTo(order, shippingStatus(order.shipments, order.status));
  return state;

  function moveTo(o: KpiOrder, status: OrderStatus): void {
    if (status === o.status) return;
    o.status = status;
    if (status === 'shipped' && o.shippedAt === undefined) {
      o.shippedAt = at;
      stageEnd('confirmed_to_shipped', o.confirmedAt);
    }
    reach(state, o, status);
  }

  function end(s: KpiState, o: KpiOrder, status: OrderStatus): void {
    o.status = status;
    o.shipments = new Map();
    reach(s, o, status);
  }
}

const ORDER_EVENT_TYPES: ReadonlySet<string> = new Set([
  E.orderConfirmed,
  E.orderRejected,
  E.orderCancelled,
  E.orderDelivered,
]);

/** The order's lifecycle events live in its own stream; other events (fulfillment's) elsewhere. */
function isOrderEvent(type: string): boolean {
  return ORDER_EVENT_TYPES.has(type);
}

function reach(state: KpiState, order: KpiOrder, status: OrderStatus): void {
  if (order.reached.has(status)) return;
  order.reached.add(status);
  add(state.ordersTotal, `${order.region}|${status}`);
}

/** As the order view does: pending stays; confirmed until a shipment left; partially, then all shipped. */
function shippingStatus(shipments: ReadonlyMap<string, ShipmentStatus>, status: OrderStatus): OrderStatus {
  if (status === 'pending') return status;
  const live = [...shipments.values()].filter((s) => s !== 'cancelled');
  const left = live.filter((s) => s === 'dispatched' || s === 'delivered').length;
  if (left === 0) return 'confirmed';
  return left === live.length ? 'shipped' : 'partially_shipped';
}
