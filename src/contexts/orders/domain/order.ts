import type { EventMetadata } from '../../../event-store/index.ts';
import type { Region } from '../../catalog/index.ts';
import { ORDER_PLACED, type OrderLine, type OrderPlacedData } from './events.ts';

export const ORDER_STATUSES = [
  'pending',
  'confirmed',
  'partially_shipped',
  'shipped',
  'delivered',
  'rejected',
  'cancelled',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Why an order was rejected or cancelled. */
export const ORDER_REASONS = [
  'out_of_stock',
  'payment_declined',
  'fraud_suspected',
  'fulfillment_failed',
  'customer_request',
  'timeout',
] as const;
export type OrderReason = (typeof ORDER_REASONS)[number];

/** A shipment of some of the order's lines (filled in by fulfillment in a later slice). */
export interface OrderShipment {
  readonly shipmentId: string;
  readonly warehouseId: string;
  readonly status: string;
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
}

/** What `evolve` needs of an event: stored events and freshly decided ones both fit. */
export interface OrderEventLike {
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: EventMetadata;
  /** When the event was stored; absent on an event not stored yet. */
  readonly time?: string;
}

export function orderStreamId(orderId: string): string {
  return `order-${orderId}`;
}

export function evolve(state: Order | undefined, event: OrderEventLike): Order | undefined {
  switch (event.type) {
    case ORDER_PLACED: {
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
      };
    }
    default:
      // Events of later slices (and unknown ones) only move the clock for now.
      return state === undefined || event.time === undefined ? state : { ...state, updatedAt: event.time };
  }
}

export function foldOrder(events: readonly OrderEventLike[]): Order | undefined {
  let state: Order | undefined;
  for (const event of events) state = evolve(state, event);
  return state;
}
