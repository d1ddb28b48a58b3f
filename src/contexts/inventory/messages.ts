import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../../messaging/index.ts';

/**
 * The inventory context's messages. Commands about stock are partitioned by SKU (`partitionKey: sku`),
 * so one SKU's reservations are handled one at a time in every process without locks; replies to the
 * saga are partitioned by order id, so the saga sees one order's replies in order.
 * Quantities are units; times are RFC 3339.
 */

const Region = Type.Union([Type.Literal('NA'), Type.Literal('EU'), Type.Literal('APAC')]);

export const ReserveStockData = Type.Object(
  {
    orderId: Type.String(),
    /** Deterministic per order line: `<orderId>:<lineIndex>`. */
    reservationId: Type.String(),
    sku: Type.String(),
    quantity: Type.Integer({ minimum: 1 }),
    /** The order's region: a warehouse there is preferred. */
    region: Region,
    /** How long the reservation holds without confirmation before it expires and releases itself. */
    ttlMs: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export const ReserveStock = defineMessage({
  type: 'inventory.ReserveStock',
  kind: 'command',
  schema: ReserveStockData,
  description:
    'Hold `quantity` units of a SKU for an order line in one warehouse of its vendor. Partition key: sku.',
});

export const StockReservedData = Type.Object(
  {
    orderId: Type.String(),
    reservationId: Type.String(),
    sku: Type.String(),
    vendorId: Type.String(),
    warehouseId: Type.String(),
    warehouseRegion: Region,
    quantity: Type.Integer({ minimum: 1 }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export const StockReserved = defineMessage({
  type: 'inventory.StockReserved',
  kind: 'event',
  schema: StockReservedData,
  description:
    'Units are held for an order line in one warehouse until confirmed, released or expired. Partition key: order id.',
});

export const StockReservationFailedData = Type.Object(
  {
    orderId: Type.String(),
    reservationId: Type.String(),
    sku: Type.String(),
    requested: Type.Integer({ minimum: 1 }),
    /** Best availability in any single warehouse of the vendor at the time. */
    available: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export const StockReservationFailed = defineMessage({
  type: 'inventory.StockReservationFailed',
  kind: 'event',
  schema: StockReservationFailedData,
  description: 'No warehouse of the vendor had enough available units for the line. Partition key: order id.',
});

const ReservationRef = {
  orderId: Type.String(),
  reservationId: Type.String(),
  sku: Type.String(),
};

export const ConfirmReservationData = Type.Object(ReservationRef, { additionalProperties: false });
export const ConfirmReservation = defineMessage({
  type: 'inventory.ConfirmReservation',
  kind: 'command',
  schema: ConfirmReservationData,
  description:
    'The order is paid: keep the reservation until dispatch (its time-to-live no longer applies). Partition key: sku.',
});

export const ReservationConfirmedData = Type.Object(
  { ...ReservationRef, warehouseId: Type.String(), quantity: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);
export const ReservationConfirmed = defineMessage({
  type: 'inventory.ReservationConfirmed',
  kind: 'event',
  schema: ReservationConfirmedData,
  description: 'The reservation now holds until dispatch. Partition key: order id.',
});

export const ReleaseStockData = Type.Object(
  {
    ...ReservationRef,
    reason: Type.Union([Type.Literal('cancelled'), Type.Literal('rejected')]),
  },
  { additionalProperties: false },
);
export const ReleaseStock = defineMessage({
  type: 'inventory.ReleaseStock',
  kind: 'command',
  schema: ReleaseStockData,
  description:
    'Compensation: give the reserved units back. Idempotent: releasing a reservation that is already released (or never existed) answers StockReleased again without a second fact. Partition key: sku.',
});

export const StockReleasedData = Type.Object(
  {
    ...ReservationRef,
    warehouseId: Type.Union([Type.String(), Type.Null()]),
    quantity: Type.Integer({ minimum: 0 }),
    reason: Type.Union([Type.Literal('cancelled'), Type.Literal('rejected'), Type.Literal('expired')]),
  },
  { additionalProperties: false },
);
export const StockReleased = defineMessage({
  type: 'inventory.StockReleased',
  kind: 'event',
  schema: StockReleasedData,
  description:
    'Reserved units are available again: compensation, or the time-to-live ran out (`expired`). Partition key: order id.',
});

export const ExpireReservationData = Type.Object(ReservationRef, { additionalProperties: false });
export const ExpireReservation = defineMessage({
  type: 'inventory.ExpireReservation',
  kind: 'command',
  schema: ExpireReservationData,
  description:
    "Durable timer fired at a reservation's expiry: release it unless it was confirmed or released. Partition key: sku.",
});

export const CommitStockData = Type.Object(
  { ...ReservationRef, shipmentId: Type.String() },
  { additionalProperties: false },
);
export const CommitStock = defineMessage({
  type: 'inventory.CommitStock',
  kind: 'command',
  schema: CommitStockData,
  description:
    'The goods left the warehouse: on-hand and reserved both drop by the reserved quantity. Partition key: sku.',
});

export const StockCommittedData = Type.Object(
  {
    ...ReservationRef,
    shipmentId: Type.String(),
    warehouseId: Type.String(),
    quantity: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export const StockCommitted = defineMessage({
  type: 'inventory.StockCommitted',
  kind: 'event',
  schema: StockCommittedData,
  description: 'Reserved units were dispatched and left the stock. Partition key: order id.',
});

export const StockLevelChangedData = Type.Object(
  {
    sku: Type.String(),
    warehouseId: Type.String(),
    onHand: Type.Integer({ minimum: 0 }),
    reserved: Type.Integer({ minimum: 0 }),
    available: Type.Integer({ minimum: 0 }),
    /** Total available over every warehouse of the SKU. */
    totalAvailable: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export const StockLevelChanged = defineMessage({
  type: 'inventory.StockLevelChanged',
  kind: 'event',
  schema: StockLevelChangedData,
  description:
    "Published for storefronts whenever a warehouse's on-hand or reserved count of a SKU changes. Partition key: sku.",
});

export type ReserveStockData = Static<typeof ReserveStockData>;
export type StockReservedData = Static<typeof StockReservedData>;
export type StockReservationFailedData = Static<typeof StockReservationFailedData>;
export type ConfirmReservationData = Static<typeof ConfirmReservationData>;
export type ReservationConfirmedData = Static<typeof ReservationConfirmedData>;
export type ReleaseStockData = Static<typeof ReleaseStockData>;
export type StockReleasedData = Static<typeof StockReleasedData>;
export type ExpireReservationData = Static<typeof ExpireReservationData>;
export type CommitStockData = Static<typeof CommitStockData>;
export type StockCommittedData = Static<typeof StockCommittedData>;
export type StockLevelChangedData = Static<typeof StockLevelChangedData>;

export const INVENTORY_MESSAGES = [
  ReserveStock,
  StockReserved,
  StockReservationFailed,
  ConfirmReservation,
  ReservationConfirmed,
  ReleaseStock,
  StockReleased,
  ExpireReservation,
  CommitStock,
  StockCommitted,
  StockLevelChanged,
] as const;
