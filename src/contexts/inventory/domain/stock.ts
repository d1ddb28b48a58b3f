import type { Region } from '../../../kernel/region.ts';
import type {
  ReservationConfirmedData,
  StockCommittedData,
  StockLevelChangedData,
  StockReleasedData,
  StockReservationFailedData,
  StockReservedData,
} from '../messages.ts';

/**
 * The stock of one SKU: an event-sourced aggregate in the stream `stock-<sku>`. Per warehouse of the
 * SKU's vendor it keeps `onHand` and `reserved`; per reservation id the reservation's life
 * (held → confirmed → committed, or released). Invariants, kept by `decide.ts`:
 * - `available = onHand − reserved` is never negative in any warehouse;
 * - in every warehouse, `reserved` equals the sum of the quantities of its held and confirmed reservations.
 *
 * The events stored in the stream carry the same data as the bus messages of the same name (the
 * saga's replies can be rebuilt from the state), except `StockLevelSet`, which is the context's own.
 */

export function stockStreamId(sku: string): string {
  return `stock-${sku}`;
}

export const STOCK_LEVEL_SET = 'StockLevelSet';
export const STOCK_RESERVED = 'StockReserved';
export const STOCK_RESERVATION_FAILED = 'StockReservationFailed';
export const RESERVATION_CONFIRMED = 'ReservationConfirmed';
export const STOCK_RELEASED = 'StockReleased';
export const STOCK_COMMITTED = 'StockCommitted';

export interface StockLevelSetData {
  sku: string;
  warehouseId: string;
  vendorId: string;
  region: Region;
  /** The new on-hand count; never below the units reserved in the warehouse. */
  onHand: number;
  /** `seed`: the initial stock at first start; `vendor`: set through the vendor API. */
  source: 'seed' | 'vendor';
}

/** The events of a stock stream, by their short (stored) names. */
export type StockEvent =
  | { readonly type: typeof STOCK_LEVEL_SET; readonly data: StockLevelSetData }
  | { readonly type: typeof STOCK_RESERVED; readonly data: StockReservedData }
  | { readonly type: typeof STOCK_RESERVATION_FAILED; readonly data: StockReservationFailedData }
  | { readonly type: typeof RESERVATION_CONFIRMED; readonly data: ReservationConfirmedData }
  | { readonly type: typeof STOCK_RELEASED; readonly data: StockReleasedData }
  | { readonly type: typeof STOCK_COMMITTED; readonly data: StockCommittedData };

/**
 * Ids of stored events. Deterministic per reservation, so a retried append stores nothing twice;
 * prefixed with the context because other contexts use the reservation id in their own ids
 * (the replies' message ids are `<reservationId>:<Name>`).
 */
export function stockEventId(event: StockEvent): string | undefined {
  if (event.type === STOCK_LEVEL_SET) {
    return event.data.source === 'seed' ? seedEventId(event.data.sku, event.data.warehouseId) : undefined;
  }
  return `inventory:${event.data.reservationId}:${event.type}`;
}

export function seedEventId(sku: string, warehouseId: string): string {
  return `inventory:seed:${sku}:${warehouseId}`;
}

export interface WarehouseStock {
  readonly warehouseId: string;
  readonly vendorId: string;
  readonly region: Region;
  readonly onHand: number;
  readonly reserved: number;
}

export type ReservationStatus = 'held' | 'confirmed' | 'released' | 'committed';
export type ReleaseReason = StockReleasedData['reason'];

/** A reservation that holds (or held) units in one warehouse. */
export interface Reservation {
  readonly status: ReservationStatus;
  readonly reservationId: string;
  readonly orderId: string;
  readonly sku: string;
  readonly vendorId: string;
  readonly warehouseId: string;
  readonly warehouseRegion: Region;
  readonly quantity: number;
  /** RFC 3339; a held reservation expires then (a confirmed one no longer does). */
  readonly expiresAt: string;
  /** Set once released. */
  readonly releaseReason?: ReleaseReason;
  /** Set once committed. */
  readonly shipmentId?: string;
}

/** A reservation that could not be made: kept so that a repeated ReserveStock gets the same answer. */
export interface FailedReservation {
  readonly status: 'failed';
  readonly reservationId: string;
  readonly orderId: string;
  readonly sku: string;
  readonly requested: number;
  readonly available: number;
}

export type ReservationRecord = Reservation | FailedReservation;

interface VersionedRecord {
  readonly version: number;
  readonly record: ReservationRecord;
}

/**
 * The reservations of one stream, shared by every state of that stream and versioned: each entry
 * keeps the reservation's record after each event that touched it. A state at version `v` sees only
 * what events up to `v` recorded, so folding new events into a later state leaves every earlier
 * state as it was (what the aggregate loader requires of `evolve`), and an event costs O(1) however
 * many reservations a flash-sale SKU has gathered. Copying a map of tens of thousands of
 * reservations per event would not be.
 *
 * Sound because the events of a stream are immutable and folded in version order: the same version
 * always carries the same event, so two loads folding the same event record it once.
 */
export class ReservationLog {
  private readonly entries = new Map<string, VersionedRecord[]>();

  /** The reservation as of `version`, undefined when no event up to it mentioned the id. */
  get(reservationId: string, version: number): ReservationRecord | undefined {
    const history = this.entries.get(reservationId);
    if (history === undefined) return undefined;
    for (let i = history.length - 1; i >= 0; i--) {
      const entry = history[i]!;
      if (entry.version <= version) return entry.record;
    }
    return undefined;
  }

  /** Records the reservation after the event at `version`; an event already recorded is ignored. */
  record(version: number, record: ReservationRecord): void {
    const history = this.entries.get(record.reservationId);
    if (history === undefined) {
      this.entries.set(record.reservationId, [{ version, record }]);
    } else if (history[history.length - 1]!.version < version) {
      history.push({ version, record });
    }
  }

  /** Every reservation as of `version` (for checks and tests: it walks the whole log). */
  *recordsAt(version: number): IterableIterator<ReservationRecord> {
    for (const id of this.entries.keys()) {
      const record = this.get(id, version);
      if (record !== undefined) yield record;
    }
  }
}

export interface StockState {
  /** Undefined until the stream has its first event. */
  readonly sku: string | undefined;
  /** Version of the last event folded in; -1 for a stream with no events. */
  readonly version: number;
  /** In the order they were first stocked. */
  readonly warehouses: readonly WarehouseStock[];
  readonly reservations: ReservationLog;
}

/** What `evolveStock` needs of an event: a stored event fits. */
export interface StockEventRecord {
  readonly type: string;
  readonly data: unknown;
  readonly version: number;
}

export function initialStockState(): StockState {
  return { sku: undefined, version: -1, warehouses: [], reservations: new ReservationLog() };
}

/** The reservation `reservationId` as the state knows it. */
export function reservationOf(state: StockState, reservationId: string): ReservationRecord | undefined {
  return state.reservations.get(reservationId, state.version);
}

/** Folds one stored event into the state; `state` itself is left as it was. */
export function evolveStock(state: StockState, stored: StockEventRecord): StockState {
  // Already folded (a load that started from an older cached state): nothing new.
  if (stored.version <= state.version) return state;
  const event = stored as unknown as StockEvent;
  const { version } = stored;
  const log = state.reservations;
  switch (event.type) {
    case STOCK_RESERVED: {
      const d = event.data;
      log.record(version, {
        status: 'held',
        reservationId: d.reservationId,
        orderId: d.orderId,
        sku: d.sku,
        vendorId: d.vendorId,
        warehouseId: d.warehouseId,
        warehouseRegion: d.warehouseRegion,
        quantity: d.quantity,
        expiresAt: d.expiresAt,
      });
      break;
    }
    case STOCK_RESERVATION_FAILED: {
      const d = event.data;
      log.record(version, {
        status: 'failed',
        reservationId: d.reservationId,
        orderId: d.orderId,
        sku: d.sku,
        requested: d.requested,
        available: d.available,
      });
      break;
    }
    case RESERVATION_CONFIRMED:
    case STOCK_RELEASED:
    case STOCK_COMMITTED: {
      const previous = state.reservations.get(event.data.reservationId, state.version);
      if (previous === undefined || previous.status === 'failed') break;
      log.record(version, nextRecord(previous, event));
      break;
    }
    default:
      break;
  }
  return {
    sku: state.sku ?? (event.data as { sku?: string }).sku,
    version,
    warehouses: applyToWarehouses(state.warehouses, event),
    reservations: log,
  };
}

function nextRecord(previous: Reservation, event: StockEvent): Reservation {
  switch (event.type) {
    case RESERVATION_CONFIRMED:
      return { ...previous, status: 'confirmed' };
    case STOCK_RELEASED:
      return { ...previous, status: 'released', releaseReason: event.data.reason };
    case STOCK_COMMITTED:
      return { ...previous, status: 'committed', shipmentId: event.data.shipmentId };
    default:
      return previous;
  }
}

/** The warehouses after one event. Pure: used by `evolveStock` and to compute level changes of a decision. */
export function applyToWarehouses(
  warehouses: readonly WarehouseStock[],
  event: StockEvent,
): readonly WarehouseStock[] {
  switch (event.type) {
    case STOCK_LEVEL_SET: {
      const { warehouseId, vendorId, region, onHand } = event.data;
      const index = warehouses.findIndex((w) => w.warehouseId === warehouseId);
      if (index === -1) return [...warehouses, { warehouseId, vendorId, region, onHand, reserved: 0 }];
      return replaceAt(warehouses, index, { ...warehouses[index]!, vendorId, region, onHand });
    }
    case STOCK_RESERVED:
      return adjust(warehouses, event.data.warehouseId, 0, event.data.quantity);
    case STOCK_RELEASED:
      return event.data.warehouseId === null
        ? warehouses
        : adjust(warehouses, event.data.warehouseId, 0, -event.data.quantity);
    case STOCK_COMMITTED:
      return adjust(warehouses, event.data.warehouseId, -event.data.quantity, -event.data.quantity);
    default:
      return warehouses;
  }
}

function adjust(
  warehouses: readonly WarehouseStock[],
  warehouseId: string,
  onHandDelta: number,
  reservedDelta: number,
): readonly WarehouseStock[] {
  const index = warehouses.findIndex((w) => w.warehouseId === warehouseId);
  if (index === -1) return warehouses;
  const current = warehouses[index]!;
  return replaceAt(warehouses, index, {
    ...current,
    onHand: current.onHand + onHandDelta,
    reserved: current.reserved + reservedDelta,
  });
}

function replaceAt<T>(items: readonly T[], index: number, item: T): readonly T[] {
  const copy = items.slice();
  copy[index] = item;
  return copy;
}

export function availableIn(warehouse: WarehouseStock): number {
  return warehouse.onHand - warehouse.reserved;
}

export function totalAvailable(warehouses: readonly WarehouseStock[]): number {
  let total = 0;
  for (const warehouse of warehouses) total += availableIn(warehouse);
  return total;
}

/**
 * The `inventory.StockLevelChanged` payloads of a decision: one per warehouse whose `onHand` or
 * `reserved` the events change, with the numbers after all of them.
 */
export function stockLevelChanges(state: StockState, events: readonly StockEvent[]): StockLevelChangedData[] {
  if (events.length === 0) return [];
  let after = state.warehouses;
  for (const event of events) after = applyToWarehouses(after, event);
  const total = totalAvailable(after);
  const changes: StockLevelChangedData[] = [];
  for (const warehouse of after) {
    const before = state.warehouses.find((w) => w.warehouseId === warehouse.warehouseId);
    if (
      before !== undefined &&
      before.onHand === warehouse.onHand &&
      before.reserved === warehouse.reserved
    ) {
      continue;
    }
    changes.push({
      sku: state.sku ?? skuOf(events),
      warehouseId: warehouse.warehouseId,
      onHand: warehouse.onHand,
      reserved: warehouse.reserved,
      available: availableIn(warehouse),
      totalAvailable: total,
    });
  }
  return changes;
}

function skuOf(events: readonly StockEvent[]): string {
  return events[0]!.data.sku;
}

/** `GET /v1/inventory/{sku}`'s view of the state. */
export interface InventoryView {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
  warehouses: {
    warehouseId: string;
    vendorId: string;
    region: Region;
    onHand: number;
    reserved: number;
    available: number;
  }[];
}

export function inventoryView(sku: string, state: StockState): InventoryView {
  let onHand = 0;
  let reserved = 0;
  const warehouses = state.warehouses.map((w) => {
    onHand += w.onHand;
    reserved += w.reserved;
    return {
      warehouseId: w.warehouseId,
      vendorId: w.vendorId,
      region: w.region,
      onHand: w.onHand,
      reserved: w.reserved,
      available: availableIn(w),
    };
  });
  return { sku, onHand, reserved, available: onHand - reserved, warehouses };
}
