import type { Region } from '../../kernel/region.ts';
import type { OrderLine, OrderPlacedData } from '../../contexts/orders/messages.ts';

/**
 * What the order saga keeps: the part of OrderPlaced its commands and the order's lifecycle events
 * need, and what the replies taught it (where each line is reserved, the shipments). Small on
 * purpose: it is folded on every message and its changed parts travel in the saga's events.
 */
export interface OrderSagaData {
  readonly orderId: string;
  readonly customerId: string;
  readonly region: Region;
  readonly currency: string;
  /** Integer minor units. */
  readonly total: number;
  readonly items: readonly OrderLine[];
  readonly shippingCountry: string;
  readonly paymentToken: string;
  /** One per order line, by line index; the reservation id is `<orderId>:<lineIndex>`. */
  readonly reservations: readonly Reservation[];
  /** How many shipments fulfillment split the order into; null until the first was allocated. */
  readonly shipmentCount: number | null;
  readonly shipments: readonly Shipment[];
  /** CapturePayment was sent (on the first dispatch). */
  readonly captureSent: boolean;
}

/**
 * - `pending`: ReserveStock sent, no answer yet;
 * - `reserved`, then `confirmed` once the order is paid;
 * - `failed`: the line could not be reserved (nothing held);
 * - `released`: given back by a compensation; `expired`: released by inventory at its time-to-live.
 */
export type ReservationStatus = 'pending' | 'reserved' | 'confirmed' | 'failed' | 'released' | 'expired';

export interface Reservation {
  readonly status: ReservationStatus;
  readonly vendorId?: string;
  readonly warehouseId?: string;
  readonly warehouseRegion?: Region;
}

export interface Shipment {
  readonly shipmentId: string;
  readonly status: 'allocated' | 'dispatched' | 'delivered';
  /**
   * Delivered, but its ShipmentDispatched has not been handled yet: its stock is not committed and
   * (first dispatch) the payment not captured. A message redelivered after a broker or process
   * failure can come back behind later ones, so the saga waits for it before it completes.
   */
  readonly awaitingDispatch?: true;
}

/** Statuses of a line whose units may be held by inventory: a compensation releases them. */
export const HELD: ReadonlySet<ReservationStatus> = new Set(['pending', 'reserved', 'confirmed']);

export function initialOrderSagaData(order: OrderPlacedData): OrderSagaData {
  return {
    orderId: order.orderId,
    customerId: order.customerId,
    region: order.region,
    currency: order.currency,
    total: order.total,
    items: order.items,
    shippingCountry: order.shippingAddress.country,
    paymentToken: order.paymentMethod.token,
    reservations: order.items.map(() => ({ status: 'pending' })),
    shipmentCount: null,
    shipments: [],
    captureSent: false,
  };
}

export function reservationIdOf(orderId: string, lineIndex: number): string {
  return `${orderId}:${lineIndex}`;
}

export function paymentIdOf(orderId: string): string {
  return `${orderId}:payment`;
}

/** The line a reservation id names, or -1 when it names none of this order's lines. */
export function lineIndexOf(data: OrderSagaData, reservationId: string): number {
  const prefix = `${data.orderId}:`;
  if (!reservationId.startsWith(prefix)) return -1;
  const text = reservationId.slice(prefix.length);
  const index = /^(0|[1-9]\d*)$/.test(text) ? Number(text) : -1;
  return index < data.items.length ? index : -1;
}

export function withReservation(
  data: OrderSagaData,
  index: number,
  change: Reservation,
): readonly Reservation[] {
  return data.reservations.map((reservation, i) => (i === index ? change : reservation));
}

/** ShipmentAllocated: the shipment added as allocated; the same array when it is known already. */
export function withAllocation(data: OrderSagaData, shipmentId: string): readonly Shipment[] {
  // A repeated allocation, or one that arrives after its dispatch or delivery, changes nothing.
  if (data.shipments.some((shipment) => shipment.shipmentId === shipmentId)) return data.shipments;
  return [...data.shipments, { shipmentId, status: 'allocated' }];
}

export function allAllocated(data: OrderSagaData): boolean {
  return data.shipmentCount !== null && data.shipments.length >= data.shipmentCount;
}

/** ShipmentDelivered: delivered, and still awaiting its dispatch if that was not seen first. */
export function withDelivery(data: OrderSagaData, shipmentId: string): readonly Shipment[] {
  const existing = data.shipments.find((shipment) => shipment.shipmentId === shipmentId);
  if (existing === undefined) {
    return [...data.shipments, { shipmentId, status: 'delivered', awaitingDispatch: true }];
  }
  if (existing.status === 'delivered') return data.shipments;
  const next: Shipment =
    existing.status === 'dispatched'
      ? { shipmentId, status: 'delivered' }
      : { shipmentId, status: 'delivered', awaitingDispatch: true };
  return data.shipments.map((shipment) => (shipment === existing ? next : shipment));
}

/**
 * ShipmentDispatched: dispatched (or, after an early delivery, no longer awaiting its dispatch).
 * The same array when it changes nothing (a repeated dispatch).
 */
export function withDispatch(data: OrderSagaData, shipmentId: string): readonly Shipment[] {
  const existing = data.shipments.find((shipment) => shipment.shipmentId === shipmentId);
  if (existing === undefined) return [...data.shipments, { shipmentId, status: 'dispatched' }];
  if (existing.status === 'allocated') {
    return data.shipments.map((shipment) =>
      shipment === existing ? { shipmentId, status: 'dispatched' as const } : shipment,
    );
  }
  if (existing.awaitingDispatch === true) {
    return data.shipments.map((shipment) =>
      shipment === existing ? { shipmentId, status: 'delivered' as const } : shipment,
    );
  }
  return data.shipments;
}

export function allDelivered(data: OrderSagaData): boolean {
  if (data.shipments.some((shipment) => shipment.awaitingDispatch === true)) return false;
  return (
    data.shipmentCount !== null &&
    data.shipments.filter((shipment) => shipment.status === 'delivered').length >= data.shipmentCount
  );
}
