import { createHash } from 'node:crypto';
import {
  ALLOCATION_FAILED,
  findShipment,
  SHIPMENT_ALLOCATED,
  SHIPMENT_CANCELLATION_FAILED,
  SHIPMENT_DELIVERED,
  SHIPMENT_DISPATCHED,
  SHIPMENTS_CANCELLED,
  shipmentIdOf,
  type FulfillmentEvent,
  type FulfillmentState,
  type Shipment,
} from './fulfillment.ts';
import {
  AllocationFailed,
  DeliverShipment,
  DispatchShipment,
  ShipmentAllocated,
  ShipmentCancellationFailed,
  ShipmentDelivered,
  ShipmentDispatched,
  ShipmentsCancelled,
  type AllocateShipmentsData,
  type ReservedLine,
  type ShipmentAllocatedData,
} from '../messages.ts';

/**
 * The fulfillment context's decisions, pure: state + command → the events to record, the replies
 * to send and the carrier timers to schedule. A command asking for something already done records
 * nothing and answers with the replies it got the first time (same deterministic message ids).
 */

/** A message to send: its type, its deterministic id and its data. */
export interface OutgoingMessage {
  readonly type: string;
  readonly id: string;
  readonly data: unknown;
}

export type RecordedEvent = FulfillmentEvent & { readonly id: string };

export interface FulfillmentDecision {
  readonly events: readonly RecordedEvent[];
  readonly replies: readonly OutgoingMessage[];
  /** The carrier simulator's timers (DispatchShipment, DeliverShipment), sent after the carrier delay. */
  readonly timers: readonly OutgoingMessage[];
}

const NOTHING: FulfillmentDecision = Object.freeze({ events: [], replies: [], timers: [] });

/** Why an AllocateShipments could not be allocated (`AllocationFailed.reason`). */
export const ALLOCATION_FAILURE_REASONS = {
  /** The order's shipments were cancelled before it was allocated. */
  cancelled: 'cancelled',
  noLines: 'no_lines',
  duplicateReservation: 'duplicate_reservation',
  /** One vendor warehouse given with two different regions. */
  inconsistentWarehouse: 'inconsistent_warehouse',
} as const;

/** Deterministic message (and event) ids: one per fact. */
export const messageIds = {
  shipmentAllocated: (shipmentId: string) => `${shipmentId}:ShipmentAllocated`,
  allocationFailed: (orderId: string) => `${orderId}:AllocationFailed`,
  dispatchShipment: (shipmentId: string) => `${shipmentId}:DispatchShipment`,
  shipmentDispatched: (shipmentId: string) => `${shipmentId}:ShipmentDispatched`,
  deliverShipment: (shipmentId: string) => `${shipmentId}:DeliverShipment`,
  shipmentDelivered: (shipmentId: string) => `${shipmentId}:ShipmentDelivered`,
  shipmentsCancelled: (orderId: string) => `${orderId}:ShipmentsCancelled`,
  shipmentCancellationFailed: (orderId: string) => `${orderId}:ShipmentCancellationFailed`,
};

const PUBLISHED_TYPE: Readonly<Record<FulfillmentEvent['type'], string>> = {
  [SHIPMENT_ALLOCATED]: ShipmentAllocated.type,
  [ALLOCATION_FAILED]: AllocationFailed.type,
  [SHIPMENT_DISPATCHED]: ShipmentDispatched.type,
  [SHIPMENT_DELIVERED]: ShipmentDelivered.type,
  [SHIPMENTS_CANCELLED]: ShipmentsCancelled.type,
  [SHIPMENT_CANCELLATION_FAILED]: ShipmentCancellationFailed.type,
};

/** The published message of a recorded fact: same id, same data. */
function published(event: RecordedEvent): OutgoingMessage {
  return { type: PUBLISHED_TYPE[event.type], id: event.id, data: event.data };
}

function recordAndPublish(
  events: readonly RecordedEvent[],
  timers: readonly OutgoingMessage[] = [],
): FulfillmentDecision {
  return { events, replies: events.map(published), timers };
}

function resend(events: readonly RecordedEvent[]): FulfillmentDecision {
  return { events: [], replies: events.map(published), timers: [] };
}

// The recorded facts, rebuilt from state for re-sending.
const allocatedFact = (shipment: Shipment): RecordedEvent => ({
  type: SHIPMENT_ALLOCATED,
  id: messageIds.shipmentAllocated(shipment.allocation.shipmentId),
  data: shipment.allocation,
});

/**
 * Groups reserved lines by vendor warehouse, in the order each warehouse first appears: one
 * shipment per (vendorId, warehouseId), the split shipments of a multi-vendor order.
 */
export function groupIntoShipments(orderId: string, lines: readonly ReservedLine[]): ShipmentAllocatedData[] {
  const groups = new Map<string, ReservedLine[]>();
  for (const line of lines) {
    const shipmentId = shipmentIdOf(orderId, line.vendorId, line.warehouseId);
    const group = groups.get(shipmentId);
    if (group === undefined) groups.set(shipmentId, [line]);
    else group.push(line);
  }
  const shipmentCount = groups.size;
  return [...groups].map(([shipmentId, group]) => {
    const first = group[0]!;
    return {
      orderId,
      shipmentId,
      vendorId: first.vendorId,
      warehouseId: first.warehouseId,
      warehouseRegion: first.warehouseRegion,
      lines: group.map((line) => ({ ...line })),
      shipmentCount,
    };
  });
}

/** Why these lines cannot be allocated, or undefined when they can. */
export function allocationProblem(lines: readonly ReservedLine[]): string | undefined {
  if (lines.length === 0) return ALLOCATION_FAILURE_REASONS.noLines;
  const reservations = new Set<string>();
  const regions = new Map<string, string>();
  for (const line of lines) {
    if (reservations.has(line.reservationId)) return ALLOCATION_FAILURE_REASONS.duplicateReservation;
    reservations.add(line.reservationId);
    const warehouse = `${line.vendorId}\u0000${line.warehouseId}`;
    const region = regions.get(warehouse);
    if (region !== undefined && region !== line.warehouseRegion)
      return ALLOCATION_FAILURE_REASONS.inconsistentWarehouse;
    regions.set(warehouse, line.warehouseRegion);
  }
  return undefined;
}

/** AllocateShipments: split into shipments and hand each to the carrier (a dispatch timer). */
export function decideAllocate(state: FulfillmentState, command: AllocateShipmentsData): FulfillmentDecision {
  const { orderId } = command;
  if (state.allocationFailure !== undefined) {
    return resend([
      { type: ALLOCATION_FAILED, id: messageIds.allocationFailed(orderId), data: state.allocationFailure },
    ]);
  }
  if (state.shipments.length > 0) return resend(state.shipments.map(allocatedFact));
  const reason =
    state.cancellation !== undefined
      ? ALLOCATION_FAILURE_REASONS.cancelled
      : allocationProblem(command.lines);
  if (reason !== undefined) {
    return recordAndPublish([
      { type: ALLOCATION_FAILED, id: messageIds.allocationFailed(orderId), data: { orderId, reason } },
    ]);
  }
  const shipments = groupIntoShipments(orderId, command.lines);
  return recordAndPublish(
    shipments.map((data) => ({
      type: SHIPMENT_ALLOCATED,
      id: messageIds.shipmentAllocated(data.shipmentId),
      data,
    })),
    shipments.map(({ shipmentId }) => ({
      type: DispatchShipment.type,
      id: messageIds.dispatchShipment(shipmentId),
      data: { orderId, shipmentId },
    })),
  );
}

/** DispatchShipment (carrier timer): the carrier picks the shipment up, unless it was cancelled. */
export function decideDispatch(state: FulfillmentState, shipmentId: string): FulfillmentDecision {
  const shipment = findShipment(state, shipmentId);
  if (shipment === undefined) return NOTHING;
  const { allocation } = shipment;
  switch (shipment.status) {
    case 'cancelled':
      return NOTHING;
    case 'dispatched':
    case 'delivered':
      return resend([dispatchedFact(shipment)]);
    case 'allocated': {
      const carrier = carrierFor(allocation.warehouseRegion);
      return recordAndPublish(
        [
          {
            type: SHIPMENT_DISPATCHED,
            id: messageIds.shipmentDispatched(shipmentId),
            data: {
              orderId: allocation.orderId,
              shipmentId,
              vendorId: allocation.vendorId,
              warehouseId: allocation.warehouseId,
              carrier: carrier.name,
              trackingNumber: trackingNumberOf(shipmentId, carrier),
              reservationIds: allocation.lines.map((line) => line.reservationId),
            },
          },
        ],
        [
          {
            type: DeliverShipment.type,
            id: messageIds.deliverShipment(shipmentId),
            data: { orderId: allocation.orderId, shipmentId },
          },
        ],
      );
    }
  }
}

/** DeliverShipment (carrier timer): the carrier delivers a dispatched shipment. */
export function decideDeliver(state: FulfillmentState, shipmentId: string): FulfillmentDecision {
  const shipment = findShipment(state, shipmentId);
  if (shipment?.dispatch === undefined) return NOTHING;
  if (shipment.delivery !== undefined) return resend([deliveredFact(shipment, shipment.delivery)]);
  return recordAndPublish([
    deliveredFact(shipment, {
      orderId: shipment.allocation.orderId,
      shipmentId,
      trackingNumber: shipment.dispatch.trackingNumber,
    }),
  ]);
}

/**
 * CancelShipments: refused (nothing cancelled) once any shipment left; otherwise every shipment is
 * cancelled, and so is an order not allocated yet (a late AllocateShipments then allocates nothing).
 */
export function decideCancel(state: FulfillmentState, orderId: string): FulfillmentDecision {
  if (state.cancellation !== undefined) {
    return resend([
      { type: SHIPMENTS_CANCELLED, id: messageIds.shipmentsCancelled(orderId), data: state.cancellation },
    ]);
  }
  const refusalId = messageIds.shipmentCancellationFailed(orderId);
  if (state.cancellationRefusal !== undefined) {
    return resend([{ type: SHIPMENT_CANCELLATION_FAILED, id: refusalId, data: state.cancellationRefusal }]);
  }
  const dispatched = state.shipments.filter((s) => s.status === 'dispatched' || s.status === 'delivered');
  if (dispatched.length > 0) {
    return recordAndPublish([
      {
        type: SHIPMENT_CANCELLATION_FAILED,
        id: refusalId,
        data: {
          orderId,
          reason: 'already_dispatched',
          dispatchedShipmentIds: dispatched.map((s) => s.allocation.shipmentId),
        },
      },
    ]);
  }
  return recordAndPublish([
    {
      type: SHIPMENTS_CANCELLED,
      id: messageIds.shipmentsCancelled(orderId),
      data: { orderId, shipmentIds: state.shipments.map((s) => s.allocation.shipmentId) },
    },
  ]);
}

function dispatchedFact(shipment: Shipment): RecordedEvent {
  return {
    type: SHIPMENT_DISPATCHED,
    id: messageIds.shipmentDispatched(shipment.allocation.shipmentId),
    data: shipment.dispatch!,
  };
}

function deliveredFact(shipment: Shipment, data: NonNullable<Shipment['delivery']>): RecordedEvent {
  return { type: SHIPMENT_DELIVERED, id: messageIds.shipmentDelivered(shipment.allocation.shipmentId), data };
}

/** The carrier simulator's services, one per warehouse region (like a carrier's sandbox accounts). */
export interface CarrierService {
  readonly name: string;
  /** Prefix of its tracking numbers. */
  readonly code: string;
}

const CARRIERS: Readonly<Record<ReservedLine['warehouseRegion'], CarrierService>> = {
  NA: { name: 'Sandbox Ground NA', code: 'SGNA' },
  EU: { name: 'Sandbox Parcel EU', code: 'SPEU' },
  APAC: { name: 'Sandbox Express APAC', code: 'SEAP' },
};

export function carrierFor(region: ReservedLine['warehouseRegion']): CarrierService {
  return CARRIERS[region];
}

/** Deterministic per shipment, so that a re-sent dispatch carries the same number: `SGNA3F9A0C1B7E24`. */
export function trackingNumberOf(shipmentId: string, carrier: CarrierService): string {
  const digest = createHash('sha256').update(shipmentId, 'utf8').digest('hex');
  return `${carrier.code}${digest.slice(0, 12).toUpperCase()}`;
}
