import type { Region } from '../../../kernel/region.ts';
import {
  ReservationConfirmed,
  StockCommitted,
  StockReleased,
  StockReservationFailed,
  StockReserved,
  type CommitStockData,
  type ConfirmReservationData,
  type ExpireReservationData,
  type ReleaseStockData,
  type ReservationConfirmedData,
  type ReserveStockData,
  type StockCommittedData,
  type StockReleasedData,
  type StockReservationFailedData,
  type StockReservedData,
} from '../messages.ts';
import {
  availableIn,
  RESERVATION_CONFIRMED,
  reservationOf,
  STOCK_COMMITTED,
  STOCK_LEVEL_SET,
  STOCK_RELEASED,
  STOCK_RESERVATION_FAILED,
  STOCK_RESERVED,
  type ReleaseReason,
  type Reservation,
  type StockEvent,
  type StockLevelSetData,
  type StockState,
  type WarehouseStock,
} from './stock.ts';

/**
 * The inventory's decisions: state + command → events to record and replies to send, or a refusal.
 * Pure: no I/O, the clock is an argument. One business fact is one event; a command about something
 * already done records nothing and answers with the earlier reply again (same message id), so a
 * repeated compensation or a second confirm is harmless.
 */

/** A reply to the saga. `id` is deterministic per reservation and fact: a re-sent reply has the same id. */
export type StockReply =
  | { readonly type: typeof StockReserved.type; readonly id: string; readonly data: StockReservedData }
  | {
      readonly type: typeof StockReservationFailed.type;
      readonly id: string;
      readonly data: StockReservationFailedData;
    }
  | {
      readonly type: typeof ReservationConfirmed.type;
      readonly id: string;
      readonly data: ReservationConfirmedData;
    }
  | { readonly type: typeof StockReleased.type; readonly id: string; readonly data: StockReleasedData }
  | { readonly type: typeof StockCommitted.type; readonly id: string; readonly data: StockCommittedData };

export interface StockDecision {
  readonly kind: 'decision';
  /** Events to append to `stock-<sku>`, at the version the state was loaded at. */
  readonly events: readonly StockEvent[];
  readonly replies: readonly StockReply[];
  /**
   * The reservation's expiry timer (`ExpireReservation`) to set: for a new reservation, and again for
   * a held one whose timer fired early (set by a process whose clock runs ahead).
   */
  readonly expire?: ExpiryTimer;
}

export interface ExpiryTimer {
  readonly orderId: string;
  readonly reservationId: string;
  /** RFC 3339: the reservation's `expiresAt`. */
  readonly at: string;
  /** True for the reservation's first timer (its message id can be deterministic). */
  readonly first: boolean;
}

export type StockRefusalReason =
  /** Confirm or commit of a reservation that was never made (or failed): the caller is wrong. */
  | 'reservation_unknown'
  /** The command names another order than the reservation's. */
  | 'reservation_mismatch'
  /** Commit of a reservation that was released: its units are no longer held. */
  | 'reservation_released'
  /** A stock level below the units reserved in the warehouse. */
  | 'below_reserved';

export interface StockRefusal {
  readonly kind: 'refusal';
  readonly reason: StockRefusalReason;
  readonly message: string;
  /** For `below_reserved`: the units reserved in the warehouse. */
  readonly reserved?: number;
}

export type StockDecisionResult = StockDecision | StockRefusal;

/** What a vendor (or the seed) sets: the on-hand count of the SKU in one of its warehouses. */
export interface SetStockLevel {
  readonly sku: string;
  readonly warehouseId: string;
  readonly vendorId: string;
  readonly region: Region;
  readonly onHand: number;
  readonly source: StockLevelSetData['source'];
}

export type StockCommand =
  | { readonly type: 'ReserveStock'; readonly data: ReserveStockData }
  | { readonly type: 'ConfirmReservation'; readonly data: ConfirmReservationData }
  | { readonly type: 'ReleaseStock'; readonly data: ReleaseStockData }
  | { readonly type: 'ExpireReservation'; readonly data: ExpireReservationData }
  | { readonly type: 'CommitStock'; readonly data: CommitStockData }
  | { readonly type: 'SetStockLevel'; readonly data: SetStockLevel };

export function decide(state: StockState, command: StockCommand, now: Date): StockDecisionResult {
  switch (command.type) {
    case 'ReserveStock':
      return decideReserve(state, command.data, now);
    case 'ConfirmReservation':
      return decideConfirm(state, command.data, now);
    case 'ReleaseStock':
      return decideRelease(state, command.data);
    case 'ExpireReservation':
      return decideExpire(state, command.data, now);
    case 'CommitStock':
      return decideCommit(state, command.data);
    case 'SetStockLevel':
      return decideSetLevel(state, command.data);
  }
}

/**
 * Holds the units in one warehouse of the SKU's vendor with enough available: one in the order's
 * region if any, else the one with the most available. None → StockReservationFailed with the best
 * single-warehouse availability. Idempotent by reservation id.
 */
export function decideReserve(state: StockState, command: ReserveStockData, now: Date): StockDecisionResult {
  const existing = reservationOf(state, command.reservationId);
  if (existing !== undefined) {
    if (existing.orderId !== command.orderId)
      return mismatch(command.reservationId, existing.orderId, command.orderId);
    return replyOnly(existing.status === 'failed' ? failedReply(existing) : reservedReply(existing));
  }
  const warehouse = pickWarehouse(state.warehouses, command.quantity, command.region);
  if (warehouse === undefined) {
    const failure: StockReservationFailedData = {
      orderId: command.orderId,
      reservationId: command.reservationId,
      sku: command.sku,
      requested: command.quantity,
      available: bestAvailable(state.warehouses),
    };
    const reply = {
      type: StockReservationFailed.type,
      id: replyId(command.reservationId, StockReservationFailed.type),
      data: failure,
    };
    // A SKU the inventory never stocked has no stream; answering is enough (nothing can ever be reserved).
    if (state.version < 0) return replyOnly(reply);
    return decision([{ type: STOCK_RESERVATION_FAILED, data: failure }], [reply]);
  }
  const expiresAt = new Date(now.getTime() + command.ttlMs).toISOString();
  const reserved: StockReservedData = {
    orderId: command.orderId,
    reservationId: command.reservationId,
    sku: command.sku,
    vendorId: warehouse.vendorId,
    warehouseId: warehouse.warehouseId,
    warehouseRegion: warehouse.region,
    quantity: command.quantity,
    expiresAt,
  };
  return {
    kind: 'decision',
    events: [{ type: STOCK_RESERVED, data: reserved }],
    replies: [
      { type: StockReserved.type, id: replyId(command.reservationId, StockReserved.type), data: reserved },
    ],
    expire: { orderId: command.orderId, reservationId: command.reservationId, at: expiresAt, first: true },
  };
}

/** The warehouse a reservation of `quantity` goes to, or undefined when none has enough available. */
export function pickWarehouse(
  warehouses: readonly WarehouseStock[],
  quantity: number,
  region: Region,
): WarehouseStock | undefined {
  let inRegion: WarehouseStock | undefined;
  let best: WarehouseStock | undefined;
  for (const warehouse of warehouses) {
    const available = availableIn(warehouse);
    if (available < quantity) continue;
    if (warehouse.region === region && (inRegion === undefined || available > availableIn(inRegion))) {
      inRegion = warehouse;
    }
    if (best === undefined || available > availableIn(best)) best = warehouse;
  }
  return inRegion ?? best;
}

function bestAvailable(warehouses: readonly WarehouseStock[]): number {
  let best = 0;
  for (const warehouse of warehouses) best = Math.max(best, availableIn(warehouse));
  return best;
}

/**
 * The order is paid: a held reservation that has not expired is confirmed (it then holds until
 * dispatch). One that ran out of time is released now as expired (its timer may not have fired
 * yet), and a released one answers its StockReleased again, so the saga learns the units are gone.
 */
export function decideConfirm(
  state: StockState,
  command: ConfirmReservationData,
  now: Date,
): StockDecisionResult {
  const found = findReservation(state, command);
  if (found.kind === 'refusal') return found;
  const reservation = found.reservation;
  switch (reservation.status) {
    case 'held': {
      if (isDue(reservation, now)) return release(reservation, 'expired');
      const confirmed = confirmedData(reservation);
      return decision(
        [{ type: RESERVATION_CONFIRMED, data: confirmed }],
        [
          {
            type: ReservationConfirmed.type,
            id: replyId(reservation.reservationId, ReservationConfirmed.type),
            data: confirmed,
          },
        ],
      );
    }
    case 'confirmed':
    case 'committed':
      return replyOnly({
        type: ReservationConfirmed.type,
        id: replyId(reservation.reservationId, ReservationConfirmed.type),
        data: confirmedData(reservation),
      });
    case 'released':
      return replyOnly(releasedReply(reservation, reservation.releaseReason ?? 'expired'));
  }
}

/**
 * Compensation: gives a held or confirmed reservation's units back. Idempotent per the contract: a
 * reservation already released, never made, or failed answers StockReleased again without a new
 * fact (nothing held: `warehouseId` null and quantity 0). A committed one has left the warehouse:
 * nothing is released, and the answer says so (quantity 0).
 */
export function decideRelease(state: StockState, command: ReleaseStockData): StockDecisionResult {
  const existing = reservationOf(state, command.reservationId);
  if (existing === undefined || existing.status === 'failed') {
    return replyOnly({
      type: StockReleased.type,
      id: replyId(command.reservationId, StockReleased.type),
      data: {
        orderId: command.orderId,
        reservationId: command.reservationId,
        sku: command.sku,
        warehouseId: null,
        quantity: 0,
        reason: command.reason,
      },
    });
  }
  if (existing.orderId !== command.orderId)
    return mismatch(command.reservationId, existing.orderId, command.orderId);
  switch (existing.status) {
    case 'held':
    case 'confirmed':
      return release(existing, command.reason);
    case 'released':
      return replyOnly(releasedReply(existing, existing.releaseReason ?? command.reason));
    case 'committed':
      return replyOnly({
        type: StockReleased.type,
        id: replyId(existing.reservationId, StockReleased.type),
        data: {
          orderId: existing.orderId,
          reservationId: existing.reservationId,
          sku: existing.sku,
          warehouseId: existing.warehouseId,
          quantity: 0,
          reason: command.reason,
        },
      });
  }
}

/**
 * The durable timer of a reservation fired: a held reservation that is due is released as expired.
 * Confirmed, released, committed or unknown reservations need nothing. A held one that is not due
 * yet (the timer was set by a process whose clock runs ahead) is looked at again when it is.
 */
export function decideExpire(
  state: StockState,
  command: ExpireReservationData,
  now: Date,
): StockDecisionResult {
  const existing = reservationOf(state, command.reservationId);
  if (existing === undefined || existing.status !== 'held') return NOTHING;
  if (!isDue(existing, now)) {
    const expire = {
      orderId: existing.orderId,
      reservationId: existing.reservationId,
      at: existing.expiresAt,
    };
    return { kind: 'decision', events: [], replies: [], expire: { ...expire, first: false } };
  }
  return release(existing, 'expired');
}

/** The goods left the warehouse: on-hand and reserved both drop by the reservation's quantity. Idempotent. */
export function decideCommit(state: StockState, command: CommitStockData): StockDecisionResult {
  const found = findReservation(state, command);
  if (found.kind === 'refusal') return found;
  const reservation = found.reservation;
  switch (reservation.status) {
    case 'held':
    case 'confirmed': {
      const committed: StockCommittedData = {
        orderId: reservation.orderId,
        reservationId: reservation.reservationId,
        sku: reservation.sku,
        shipmentId: command.shipmentId,
        warehouseId: reservation.warehouseId,
        quantity: reservation.quantity,
      };
      return decision(
        [{ type: STOCK_COMMITTED, data: committed }],
        [
          {
            type: StockCommitted.type,
            id: replyId(reservation.reservationId, StockCommitted.type),
            data: committed,
          },
        ],
      );
    }
    case 'committed':
      return replyOnly({
        type: StockCommitted.type,
        id: replyId(reservation.reservationId, StockCommitted.type),
        data: {
          orderId: reservation.orderId,
          reservationId: reservation.reservationId,
          sku: reservation.sku,
          shipmentId: reservation.shipmentId ?? command.shipmentId,
          warehouseId: reservation.warehouseId,
          quantity: reservation.quantity,
        },
      });
    case 'released':
      return {
        kind: 'refusal',
        reason: 'reservation_released',
        message: `reservation ${reservation.reservationId} was released (${reservation.releaseReason ?? 'unknown reason'}); its units cannot be committed`,
      };
  }
}

/**
 * Sets the on-hand count of one warehouse (added to the SKU's warehouses if new). Refused below the
 * units reserved there; the same count again records nothing.
 */
export function decideSetLevel(state: StockState, command: SetStockLevel): StockDecisionResult {
  const current = state.warehouses.find((w) => w.warehouseId === command.warehouseId);
  const reserved = current?.reserved ?? 0;
  if (command.onHand < reserved) {
    return {
      kind: 'refusal',
      reason: 'below_reserved',
      reserved,
      message: `${reserved} units of ${command.sku} are reserved in ${command.warehouseId}: onHand cannot be set below ${reserved}`,
    };
  }
  if (current !== undefined && current.onHand === command.onHand) return NOTHING;
  return decision(
    [
      {
        type: STOCK_LEVEL_SET,
        data: {
          sku: command.sku,
          warehouseId: command.warehouseId,
          vendorId: command.vendorId,
          region: command.region,
          onHand: command.onHand,
          source: command.source,
        },
      },
    ],
    [],
  );
}

/** `<reservationId>:<Name>`: the id of a reply, the same every time the reply is sent. */
export function replyId(reservationId: string, type: string): string {
  return `${reservationId}:${type.slice(type.indexOf('.') + 1)}`;
}

const NOTHING: StockDecision = { kind: 'decision', events: [], replies: [] };

function decision(events: StockEvent[], replies: StockReply[]): StockDecision {
  return { kind: 'decision', events, replies };
}

function replyOnly(reply: StockReply): StockDecision {
  return { kind: 'decision', events: [], replies: [reply] };
}

function isDue(reservation: Reservation, now: Date): boolean {
  return Date.parse(reservation.expiresAt) <= now.getTime();
}

function release(reservation: Reservation, reason: ReleaseReason): StockDecision {
  const reply = releasedReply(reservation, reason);
  return decision([{ type: STOCK_RELEASED, data: reply.data }], [reply]);
}

function releasedReply(
  reservation: Reservation,
  reason: ReleaseReason,
): { type: typeof StockReleased.type; id: string; data: StockReleasedData } {
  return {
    type: StockReleased.type,
    id: replyId(reservation.reservationId, StockReleased.type),
    data: {
      orderId: reservation.orderId,
      reservationId: reservation.reservationId,
      sku: reservation.sku,
      warehouseId: reservation.warehouseId,
      quantity: reservation.quantity,
      reason,
    },
  };
}

function confirmedData(reservation: Reservation): ReservationConfirmedData {
  return {
    orderId: reservation.orderId,
    reservationId: reservation.reservationId,
    sku: reservation.sku,
    warehouseId: reservation.warehouseId,
    quantity: reservation.quantity,
  };
}

function reservedReply(reservation: Reservation): StockReply {
  return {
    type: StockReserved.type,
    id: replyId(reservation.reservationId, StockReserved.type),
    data: {
      orderId: reservation.orderId,
      reservationId: reservation.reservationId,
      sku: reservation.sku,
      vendorId: reservation.vendorId,
      warehouseId: reservation.warehouseId,
      warehouseRegion: reservation.warehouseRegion,
      quantity: reservation.quantity,
      expiresAt: reservation.expiresAt,
    },
  };
}

function failedReply(failure: {
  reservationId: string;
  orderId: string;
  sku: string;
  requested: number;
  available: number;
}): StockReply {
  return {
    type: StockReservationFailed.type,
    id: replyId(failure.reservationId, StockReservationFailed.type),
    data: {
      orderId: failure.orderId,
      reservationId: failure.reservationId,
      sku: failure.sku,
      requested: failure.requested,
      available: failure.available,
    },
  };
}

function findReservation(
  state: StockState,
  command: { reservationId: string; orderId: string },
): { kind: 'found'; reservation: Reservation } | StockRefusal {
  const existing = reservationOf(state, command.reservationId);
  if (existing === undefined || existing.status === 'failed') {
    return {
      kind: 'refusal',
      reason: 'reservation_unknown',
      message: `reservation ${command.reservationId} ${existing === undefined ? 'was never made' : 'failed'}: nothing is held for it`,
    };
  }
  if (existing.orderId !== command.orderId)
    return mismatch(command.reservationId, existing.orderId, command.orderId);
  return { kind: 'found', reservation: existing };
}

function mismatch(reservationId: string, owner: string, asked: string): StockRefusal {
  return {
    kind: 'refusal',
    reason: 'reservation_mismatch',
    message: `reservation ${reservationId} belongs to order ${owner}, not to order ${asked}`,
  };
}
