import type { EventMetadata } from '../../../event-store/index.ts';
import type { Region } from '../../../kernel/region.ts';
import {
  ORDER_PLACED,
  type OrderLine,
  type OrderPlacedData,
  type OrderReason,
  type OrderStatus,
} from '../messages.ts';

export { ORDER_REASONS, orderStreamId, type OrderReason } from '../messages.ts';

export { ORDER_STATUSES, type OrderStatus } from '../messages.ts';

export const SHIPMENT_STATUSES = ['allocated', 'dispatched', 'delivered', 'cancelled'] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

/** A shipment of some of the order's lines from one vendor warehouse, as fulfillment reports it. */
export interface OrderShipment {
  readonly shipmentId: string;
  readonly vendorId: string;
  readonly warehouseId: string;
  readonly status: ShipmentStatus;
  readonly carrier?: string;
  readonly trackingNumber?: string;
  readonly items: readonly { sku: string; quantity: number }[];
}

/** The order's state, folded from its stream. Amounts are integer minor units. */
export interface Order {
  readonly id: string;
  readonly status: OrderStatus;
  readonly reason?: OrderReason;
  readonly region: Region;
  readonly customerId: string;
  readonly currency: string;
  readonly total: number;
  readonly items: readonly OrderLine[];
  readonly shipments: readonly OrderShipment[];
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Hash of the request that placed the order, for idempotent retries. */
  readonly requestHash: string;
  /** A customer asked to cancel and the saga has not answered yet. */
  readonly cancellationRequested: boolean;
}

const TERMINAL: ReadonlySet<OrderStatus> = new Set(['delivered', 'rejected', 'cancelled']);

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL.has(status);
}

/** Statuses from which a customer may still cancel: nothing has left a warehouse yet. */
export function isCancellable(order: Order): boolean {
  return (
    (order.status === 'pending' || order.status === 'confirmed') &&
    !order.shipments.some((s) => s.status !== 'allocated' && s.status !== 'cancelled')
  );
}

/** What `evolve` needs of an event: stored events and freshly decided ones both fit. */
export interface OrderEventLike {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
  /** When the event was stored; absent on an event not stored yet. */
  readonly time?: string;
}

/**
 * Folds the order's view from its events. It accepts the order's own stream and, for the full view,
 * every event correlated with the order: fulfillment's shipment events fill `shipments`, and the
 * status follows the lifecycle (pending → confirmed → partially_shipped → shipped → delivered, or
 * rejected / cancelled). Events that the view does not show leave it, `updatedAt` included.
 */
export function evolve(state: Order | undefined, event: OrderEventLike): Order | undefined {
  if (event.type === ORDER_PLACED) {
    const data = event.data as OrderPlacedData;
    const requestHash = event.metadata?.requestHash;
    // The decision's own clock, not the store's: the 201 answer and later reads show the same times.
    return {
      id: data.orderId,
      status: 'pending',
      region: data.region,
      customerId: data.customerId,
      currency: data.currency,
      total: data.total,
      items: data.items,
      shipments: [],
      createdAt: data.placedAt,
      updatedAt: data.placedAt,
      requestHash: typeof requestHash === 'string' ? requestHash : '',
      cancellationRequested: false,
    };
  }
  if (state === undefined) return state;
  const touched = event.time === undefined ? state : { ...state, updatedAt: event.time };
  switch (event.type) {
    case 'OrderConfirmed':
      return isTerminal(touched.status)
        ? touched
        : { ...touched, status: shippingStatus(touched.shipments, 'confirmed') };
    case 'OrderRejected':
      return {
        ...touched,
        status: 'rejected',
        reason: (event.data as { reason: OrderReason }).reason,
        cancellationRequested: false,
      };
    case 'OrderCancelled':
      return {
        ...touched,
        status: 'cancelled',
        reason: (event.data as { reason: OrderReason }).reason,
        cancellationRequested: false,
      };
    case 'OrderDelivered':
      return { ...touched, status: 'delivered' };
    case 'OrderCancellationRequested':
      return { ...touched, cancellationRequested: true };
    case 'OrderCancellationRefused':
      return { ...touched, cancellationRequested: false };
    case 'ShipmentAllocated': {
      const data = event.data as ShipmentAllocatedLike;
      if (touched.shipments.some((s) => s.shipmentId === data.shipmentId)) return touched;
      const shipment: OrderShipment = {
        shipmentId: data.shipmentId,
        vendorId: data.vendorId,
        warehouseId: data.warehouseId,
        status: 'allocated',
        items: data.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
      };
      return { ...touched, shipments: [...touched.shipments, shipment] };
    }
    case 'ShipmentDispatched': {
      const data = event.data as { shipmentId: string; carrier?: string; trackingNumber?: string };
      return withShipment(touched, data.shipmentId, (s) => ({
        ...s,
        status: 'dispatched',
        ...(data.carrier !== undefined ? { carrier: data.carrier } : {}),
        ...(data.trackingNumber !== undefined ? { trackingNumber: data.trackingNumber } : {}),
      }));
    }
    case 'ShipmentDelivered':
      return withShipment(touched, (event.data as { shipmentId: string }).shipmentId, (s) => ({
        ...s,
        status: 'delivered',
      }));
    case 'ShipmentsCancelled': {
      const ids = new Set((event.data as { shipmentIds: string[] }).shipmentIds);
      return {
        ...touched,
        shipments: touched.shipments.map((s) => (ids.has(s.shipmentId) ? { ...s, status: 'cancelled' } : s)),
      };
    }
    default:
      // Events the view does not show (the saga's, payments'…) leave it as it was.
      return state;
  }
}

interface ShipmentAllocatedLike {
  shipmentId: string;
  vendorId: string;
  warehouseId: string;
  lines: { sku: string; quantity: number }[];
}

function withShipment(
  order: Order,
  shipmentId: string,
  change: (shipment: OrderShipment) => OrderShipment,
): Order {
  const shipments = order.shipments.map((s) => (s.shipmentId === shipmentId ? change(s) : s));
  return isTerminal(order.status)
    ? { ...order, shipments }
    : { ...order, shipments, status: shippingStatus(shipments, order.status) };
}

/** confirmed while nothing left; partially_shipped while some shipments left; shipped when all left. */
function shippingStatus(shipments: readonly OrderShipment[], status: OrderStatus): OrderStatus {
  if (status === 'pending') return status;
  const live = shipments.filter((s) => s.status !== 'cancelled');
  const left = live.filter((s) => s.status === 'dispatched' || s.status === 'delivered').length;
  if (left === 0) return 'confirmed';
  return left === live.length ? 'shipped' : 'partially_shipped';
}

export function foldOrder(events: readonly OrderEventLike[]): Order | undefined {
  let state: Order | undefined;
  for (const event of events) state = evolve(state, event);
  return state;
}
