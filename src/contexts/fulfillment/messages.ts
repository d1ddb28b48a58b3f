import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../messaging/index.ts';

/**
 * The fulfillment context's messages: allocation of an order's reserved lines to shipments (one per
 * vendor warehouse: split shipments), and the carrier's tracking events. All are partitioned by order id.
 */

const Region = Type.Union([Type.Literal('NA'), Type.Literal('EU'), Type.Literal('APAC')]);

export const ReservedLine = Type.Object(
  {
    reservationId: Type.String(),
    sku: Type.String(),
    vendorId: Type.String(),
    warehouseId: Type.String(),
    warehouseRegion: Region,
    quantity: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

export const AllocateShipmentsData = Type.Object(
  { orderId: Type.String(), region: Region, lines: Type.Array(ReservedLine, { minItems: 1 }) },
  { additionalProperties: false },
);
export const AllocateShipments = defineMessage({
  type: 'fulfillment.AllocateShipments',
  kind: 'command',
  schema: AllocateShipmentsData,
  description:
    "Group the order's reserved lines into shipments, one per vendor warehouse, and hand them to the carrier.",
});

export const ShipmentAllocatedData = Type.Object(
  {
    orderId: Type.String(),
    /** Deterministic: `<orderId>:<vendorId>:<warehouseId>`. */
    shipmentId: Type.String(),
    vendorId: Type.String(),
    warehouseId: Type.String(),
    warehouseRegion: Region,
    lines: Type.Array(ReservedLine, { minItems: 1 }),
    /** How many shipments the order was split into, so the saga knows when all are allocated. */
    shipmentCount: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export const ShipmentAllocated = defineMessage({
  type: 'fulfillment.ShipmentAllocated',
  kind: 'event',
  schema: ShipmentAllocatedData,
  description: 'A shipment was formed in one warehouse and booked with the carrier.',
});

export const AllocationFailedData = Type.Object(
  { orderId: Type.String(), reason: Type.String() },
  { additionalProperties: false },
);
export const AllocationFailed = defineMessage({
  type: 'fulfillment.AllocationFailed',
  kind: 'event',
  schema: AllocationFailedData,
  description: 'The order could not be allocated to shipments.',
});

const ShipmentRef = { orderId: Type.String(), shipmentId: Type.String() };

export const DispatchShipmentData = Type.Object(ShipmentRef, { additionalProperties: false });
export const DispatchShipment = defineMessage({
  type: 'fulfillment.DispatchShipment',
  kind: 'command',
  schema: DispatchShipmentData,
  description:
    'Carrier simulator timer: the carrier picks the shipment up (ignored when the shipment was cancelled).',
});

export const ShipmentDispatchedData = Type.Object(
  {
    ...ShipmentRef,
    vendorId: Type.String(),
    warehouseId: Type.String(),
    carrier: Type.String(),
    trackingNumber: Type.String(),
    /** Reservation ids whose stock left with this shipment. */
    reservationIds: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export const ShipmentDispatched = defineMessage({
  type: 'fulfillment.ShipmentDispatched',
  kind: 'event',
  schema: ShipmentDispatchedData,
  description: 'Tracking: the shipment left the warehouse with the carrier.',
});

export const DeliverShipmentData = Type.Object(ShipmentRef, { additionalProperties: false });
export const DeliverShipment = defineMessage({
  type: 'fulfillment.DeliverShipment',
  kind: 'command',
  schema: DeliverShipmentData,
  description: 'Carrier simulator timer: the carrier delivers the shipment.',
});

export const ShipmentDeliveredData = Type.Object(
  { ...ShipmentRef, trackingNumber: Type.String() },
  { additionalProperties: false },
);
export const ShipmentDelivered = defineMessage({
  type: 'fulfillment.ShipmentDelivered',
  kind: 'event',
  schema: ShipmentDeliveredData,
  description: 'Tracking: the shipment reached the customer.',
});

export const CancelShipmentsData = Type.Object({ orderId: Type.String() }, { additionalProperties: false });
export const CancelShipments = defineMessage({
  type: 'fulfillment.CancelShipments',
  kind: 'command',
  schema: CancelShipmentsData,
  description: "Compensation: cancel the order's shipments that have not been dispatched.",
});

export const ShipmentsCancelledData = Type.Object(
  { orderId: Type.String(), shipmentIds: Type.Array(Type.String()) },
  { additionalProperties: false },
);
export const ShipmentsCancelled = defineMessage({
  type: 'fulfillment.ShipmentsCancelled',
  kind: 'event',
  schema: ShipmentsCancelledData,
  description:
    'Every shipment of the order is cancelled (none had been dispatched). Idempotent: answered again on a repeated command.',
});

export const ShipmentCancellationFailedData = Type.Object(
  {
    orderId: Type.String(),
    reason: Type.Literal('already_dispatched'),
    dispatchedShipmentIds: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export const ShipmentCancellationFailed = defineMessage({
  type: 'fulfillment.ShipmentCancellationFailed',
  kind: 'event',
  schema: ShipmentCancellationFailedData,
  description: 'Cancellation came too late: a shipment had already been dispatched (nothing was cancelled).',
});

export type AllocateShipmentsData = Static<typeof AllocateShipmentsData>;
export type ShipmentAllocatedData = Static<typeof ShipmentAllocatedData>;
export type AllocationFailedData = Static<typeof AllocationFailedData>;
export type DispatchShipmentData = Static<typeof DispatchShipmentData>;
export type ShipmentDispatchedData = Static<typeof ShipmentDispatchedData>;
export type DeliverShipmentData = Static<typeof DeliverShipmentData>;
export type ShipmentDeliveredData = Static<typeof ShipmentDeliveredData>;
export type CancelShipmentsData = Static<typeof CancelShipmentsData>;
export type ShipmentsCancelledData = Static<typeof ShipmentsCancelledData>;
export type ShipmentCancellationFailedData = Static<typeof ShipmentCancellationFailedData>;
export type ReservedLine = Static<typeof ReservedLine>;

export const FULFILLMENT_MESSAGES = [
  AllocateShipments,
  ShipmentAllocated,
  AllocationFailed,
  DispatchShipment,
  ShipmentDispatched,
  DeliverShipment,
  ShipmentDelivered,
  CancelShipments,
  ShipmentsCancelled,
  ShipmentCancellationFailed,
] as const;
