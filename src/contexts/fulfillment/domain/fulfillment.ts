import type {
  AllocationFailedData,
  ShipmentAllocatedData,
  ShipmentCancellationFailedData,
  ShipmentDeliveredData,
  ShipmentDispatchedData,
  ShipmentsCancelledData,
} from '../messages.ts';

/**
 * The fulfillment aggregate: one per order, in the stream `fulfillment-<orderId>`. It records the
 * shipments the order was split into (one per vendor warehouse) and what the carrier did with each,
 * and remembers a cancellation, so that a dispatch timer firing after it does nothing.
 *
 * Stored events have short names; the facts they record are published as `fulfillment.<Name>`
 * with the same data.
 */

export const SHIPMENT_ALLOCATED = 'ShipmentAllocated';
export const ALLOCATION_FAILED = 'AllocationFailed';
export const SHIPMENT_DISPATCHED = 'ShipmentDispatched';
export const SHIPMENT_DELIVERED = 'ShipmentDelivered';
export const SHIPMENTS_CANCELLED = 'ShipmentsCancelled';
export const SHIPMENT_CANCELLATION_FAILED = 'ShipmentCancellationFailed';

export type FulfillmentEvent =
  | { type: typeof SHIPMENT_ALLOCATED; data: ShipmentAllocatedData }
  | { type: typeof ALLOCATION_FAILED; data: AllocationFailedData }
  | { type: typeof SHIPMENT_DISPATCHED; data: ShipmentDispatchedData }
  | { type: typeof SHIPMENT_DELIVERED; data: ShipmentDeliveredData }
  | { type: typeof SHIPMENTS_CANCELLED; data: ShipmentsCancelledData }
  | { type: typeof SHIPMENT_CANCELLATION_FAILED; data: ShipmentCancellationFailedData };

export type ShipmentStatus = 'allocated' | 'dispatched' | 'delivered' | 'cancelled';

export interface Shipment {
  readonly allocation: ShipmentAllocatedData;
  readonly status: ShipmentStatus;
  readonly dispatch?: ShipmentDispatchedData;
  readonly delivery?: ShipmentDeliveredData;
}

export interface FulfillmentState {
  /** In allocation order. */
  readonly shipments: readonly Shipment[];
  readonly allocationFailure?: AllocationFailedData;
  /** Set once the order's shipments were cancelled (or cancelled before any was allocated). */
  readonly cancellation?: ShipmentsCancelledData;
  /** Set once a cancellation was refused because a shipment had left. */
  readonly cancellationRefusal?: ShipmentCancellationFailedData;
}

export const INITIAL_FULFILLMENT_STATE: FulfillmentState = Object.freeze({ shipments: Object.freeze([]) });

export function fulfillmentStreamId(orderId: string): string {
  return `fulfillment-${orderId}`;
}

/** `<orderId>:<vendorId>:<warehouseId>`: one shipment per vendor warehouse of an order. */
export function shipmentIdOf(orderId: string, vendorId: string, warehouseId: string): string {
  return `${orderId}:${vendorId}:${warehouseId}`;
}

export function findShipment(state: FulfillmentState, shipmentId: string): Shipment | undefined {
  return state.shipments.find((shipment) => shipment.allocation.shipmentId === shipmentId);
}

/** Folds one event into the state; never mutates the state it is given (the loader caches it). */
export function evolveFulfillment(
  state: FulfillmentState,
  event: { type: string; data: unknown },
): FulfillmentState {
  const recorded = event as FulfillmentEvent;
  switch (recorded.type) {
    case SHIPMENT_ALLOCATED:
      return {
        ...state,
        shipments: [...state.shipments, { allocation: recorded.data, status: 'allocated' }],
      };
    case ALLOCATION_FAILED:
      return { ...state, allocationFailure: recorded.data };
    case SHIPMENT_DISPATCHED: {
      const dispatch = recorded.data;
      return updateShipment(state, dispatch.shipmentId, (shipment) => ({
        ...shipment,
        status: 'dispatched',
        dispatch,
      }));
    }
    case SHIPMENT_DELIVERED: {
      const delivery = recorded.data;
      return updateShipment(state, delivery.shipmentId, (shipment) => ({
        ...shipment,
        status: 'delivered',
        delivery,
      }));
    }
    case SHIPMENTS_CANCELLED: {
      const cancelled = new Set(recorded.data.shipmentIds);
      return {
        ...state,
        cancellation: recorded.data,
        shipments: state.shipments.map((shipment) =>
          cancelled.has(shipment.allocation.shipmentId) ? { ...shipment, status: 'cancelled' } : shipment,
        ),
      };
    }
    case SHIPMENT_CANCELLATION_FAILED:
      return { ...state, cancellationRefusal: recorded.data };
    default:
      return state;
  }
}

function updateShipment(
  state: FulfillmentState,
  shipmentId: string,
  update: (shipment: Shipment) => Shipment,
): FulfillmentState {
  return {
    ...state,
    shipments: state.shipments.map((shipment) =>
      shipment.allocation.shipmentId === shipmentId ? update(shipment) : shipment,
    ),
  };
}
