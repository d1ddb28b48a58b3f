import { describe, expect, it } from 'vitest';
import { MessageCatalog } from '../../../messaging/index.ts';
import { decide, type StockCommand, type StockDecision, type StockDecisionResult } from './decide.ts';
import { INVENTORY_MESSAGES } from '../messages.ts';
import {
  evolveStock,
  initialStockState,
  inventoryView,
  reservationOf,
  stockLevelChanges,
  type StockEvent,
  type StockState,
} from './stock.ts';

// Given / When / Then on the pure decisions of the stock aggregate.

const SKU = 'KC-KETTLE-GS';
const T0 = new Date('2026-03-01T10:00:00.000Z');
const TTL = 60_000;
const catalog = new MessageCatalog().register(...INVENTORY_MESSAGES);

function level(warehouseId: string, region: 'NA' | 'EU' | 'APAC', onHand: number): StockEvent {
  return {
    type: 'StockLevelSet',
    data: { sku: SKU, warehouseId, vendorId: 'kettle', region, onHand, source: 'seed' },
  };
}

const SEED = [level('wh-na', 'NA', 40), level('wh-eu', 'EU', 25), level('wh-apac', 'APAC', 10)];

function reserved(
  reservationId: string,
  warehouseId: string,
  quantity: number,
  region: 'NA' | 'EU' | 'APAC' = 'NA',
): StockEvent {
  return {
    type: 'StockReserved',
    data: {
      orderId: orderOf(reservationId),
      reservationId,
      sku: SKU,
      vendorId: 'kettle',
      warehouseId,
      warehouseRegion: region,
      quantity,
      expiresAt: new Date(T0.getTime() + TTL).toISOString(),
    },
  };
}

function orderOf(reservationId: string): string {
  return reservationId.split(':')[0]!;
}

function given(...events: StockEvent[]): StockState {
  let state = initialStockState();
  events.forEach((event, version) => {
    state = evolveStock(state, { ...event, version });
  });
  return state;
}

function when(state: StockState, command: StockCommand, now = T0): StockDecisionResult {
  return decide(state, command, now);
}

function decided(result: StockDecisionResult): StockDecision {
  if (result.kind !== 'decision') throw new Error(`refused: ${result.message}`);
  // Every reply must be a valid message of its contract.
  for (const reply of result.replies) catalog.validate(reply.type, reply.data);
  return result;
}

const reserve = (
  reservationId: string,
  quantity: number,
  region: 'NA' | 'EU' | 'APAC' = 'EU',
): StockCommand => ({
  type: 'ReserveStock',
  data: { orderId: orderOf(reservationId), reservationId, sku: SKU, quantity, region, ttlMs: TTL },
});
const ref = (reservationId: string) => ({ orderId: orderOf(reservationId), reservationId, sku: SKU });
const confirm = (id: string): StockCommand => ({ type: 'ConfirmReservation', data: ref(id) });
const release = (id: string, reason: 'cancelled' | 'rejected' = 'cancelled'): StockCommand => ({
  type: 'ReleaseStock',
  data: { ...ref(id), reason },
});
const expire = (id: string): StockCommand => ({ type: 'ExpireReservation', data: ref(id) });
const commit = (id: string, shipmentId = 'ship-1'): StockCommand => ({
  type: 'CommitStock',
  data: { ...ref(id), shipmentId },
});

describe('ReserveStock', () => {
  it('prefers a warehouse in the order’s region, even one with less available', () => {
    const result = decided(when(given(...SEED), reserve('o1:0', 5, 'EU')));
    expect(result.events).toEqual([
      {
        type: 'StockReserved',
        data: {
          orderId: 'o1',
          reservationId: 'o1:0',
          sku: SKU,
          vendorId: 'kettle',
          warehouseId: 'wh-eu',
          warehouseRegion: 'EU',
          quantity: 5,
          expiresAt: '2026-03-01T10:01:00.000Z',
        },
      },
    ]);
    expect(result.replies).toEqual([
      { type: 'inventory.StockReserved', id: 'o1:0:StockReserved', data: result.events[0]!.data },
    ]);
    expect(result.expire).toEqual({
      orderId: 'o1',
      reservationId: 'o1:0',
      at: '2026-03-01T10:01:00.000Z',
      first: true,
    });
  });

  it('falls back to the warehouse with the most available when the region has none with enough', () => {
    // EU has 25 on hand, 22 of them reserved: 3 available.
    const state = given(...SEED, reserved('o0:0', 'wh-eu', 22, 'EU'));
    const result = decided(when(state, reserve('o1:0', 5, 'EU')));
    expect(result.events[0]).toMatchObject({
      type: 'StockReserved',
      data: { warehouseId: 'wh-na', warehouseRegion: 'NA' },
    });
  });

  it('falls back to the warehouse with the most available when the vendor has none in the region', () => {
    const state = given(level('wh-na', 'NA', 8), level('wh-eu', 'EU', 12));
    const result = decided(when(state, reserve('o1:0', 2, 'APAC')));
    expect(result.events[0]).toMatchObject({ data: { warehouseId: 'wh-eu' } });
  });

  it('fails when no single warehouse has enough, naming the best single-warehouse availability', () => {
    const state = given(level('wh-na', 'NA', 4), level('wh-eu', 'EU', 3));
    const result = decided(when(state, reserve('o1:0', 5)));
    const failure = { orderId: 'o1', reservationId: 'o1:0', sku: SKU, requested: 5, available: 4 };
    expect(result.events).toEqual([{ type: 'StockReservationFailed', data: failure }]);
    expect(result.replies).toEqual([
      { type: 'inventory.StockReservationFailed', id: 'o1:0:StockReservationFailed', data: failure },
    ]);
    expect(result.expire).toBeUndefined();
  });

  it('counts reserved units as unavailable', () => {
    const state = given(level('wh-na', 'NA', 10), reserved('o0:0', 'wh-na', 8));
    const result = decided(when(state, reserve('o1:0', 3, 'NA')));
    expect(result.events[0]).toMatchObject({ type: 'StockReservationFailed', data: { available: 2 } });
  });

  it('answers a SKU the inventory never stocked with a failure, and records nothing', () => {
    const result = decided(when(given(), reserve('o1:0', 1)));
    expect(result.events).toEqual([]);
    expect(result.replies).toEqual([
      {
        type: 'inventory.StockReservationFailed',
        id: 'o1:0:StockReservationFailed',
        data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, requested: 1, available: 0 },
      },
    ]);
  });

  it('is idempotent by reservation id: a repeated ReserveStock re-sends the earlier reply and records nothing', () => {
    const state = given(...SEED, reserved('o1:0', 'wh-na', 5));
    const result = decided(when(state, reserve('o1:0', 5, 'EU'), new Date(T0.getTime() + 5_000)));
    expect(result.events).toEqual([]);
    expect(result.expire).toBeUndefined();
    expect(result.replies).toEqual([
      { type: 'inventory.StockReserved', id: 'o1:0:StockReserved', data: reserved('o1:0', 'wh-na', 5).data },
    ]);
  });

  it('repeats a failure even after stock arrived', () => {
    const failed: StockEvent = {
      type: 'StockReservationFailed',
      data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, requested: 50, available: 40 },
    };
    const state = given(...SEED, failed, level('wh-na', 'NA', 400));
    const result = decided(when(state, reserve('o1:0', 50)));
    expect(result.events).toEqual([]);
    expect(result.replies).toEqual([
      { type: 'inventory.StockReservationFailed', id: 'o1:0:StockReservationFailed', data: failed.data },
    ]);
  });

  it('refuses a reservation id that belongs to another order', () => {
    const state = given(...SEED, reserved('o1:0', 'wh-na', 5));
    const result = when(state, {
      ...reserve('o1:0', 5),
      data: { ...reserve('o1:0', 5).data, orderId: 'o2' },
    } as StockCommand);
    expect(result).toMatchObject({ kind: 'refusal', reason: 'reservation_mismatch' });
  });
});

describe('ConfirmReservation', () => {
  const held = given(...SEED, reserved('o1:0', 'wh-na', 5));

  it('confirms a held reservation before it expires', () => {
    const result = decided(when(held, confirm('o1:0'), new Date(T0.getTime() + TTL - 1)));
    const data = { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 };
    expect(result.events).toEqual([{ type: 'ReservationConfirmed', data }]);
    expect(result.replies).toEqual([
      { type: 'inventory.ReservationConfirmed', id: 'o1:0:ReservationConfirmed', data },
    ]);
  });

  it('answers a second confirm with the same reply and records nothing', () => {
    const confirmed = given(...SEED, reserved('o1:0', 'wh-na', 5), {
      type: 'ReservationConfirmed',
      data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 },
    });
    const result = decided(when(confirmed, confirm('o1:0'), new Date(T0.getTime() + 10 * TTL)));
    expect(result.events).toEqual([]);
    expect(result.replies).toMatchObject([
      { type: 'inventory.ReservationConfirmed', id: 'o1:0:ReservationConfirmed' },
    ]);
  });

  it('releases a held reservation whose time ran out (its timer had not fired yet) and says so', () => {
    const result = decided(when(held, confirm('o1:0'), new Date(T0.getTime() + TTL)));
    const data = {
      orderId: 'o1',
      reservationId: 'o1:0',
      sku: SKU,
      warehouseId: 'wh-na',
      quantity: 5,
      reason: 'expired',
    };
    expect(result.events).toEqual([{ type: 'StockReleased', data }]);
    expect(result.replies).toEqual([{ type: 'inventory.StockReleased', id: 'o1:0:StockReleased', data }]);
  });

  it('re-sends the StockReleased reply for a released reservation, so the saga learns it is gone', () => {
    const released = given(...SEED, reserved('o1:0', 'wh-na', 5), {
      type: 'StockReleased',
      data: {
        orderId: 'o1',
        reservationId: 'o1:0',
        sku: SKU,
        warehouseId: 'wh-na',
        quantity: 5,
        reason: 'expired',
      },
    });
    const result = decided(when(released, confirm('o1:0')));
    expect(result.events).toEqual([]);
    expect(result.replies).toEqual([
      {
        type: 'inventory.StockReleased',
        id: 'o1:0:StockReleased',
        data: {
          orderId: 'o1',
          reservationId: 'o1:0',
          sku: SKU,
          warehouseId: 'wh-na',
          quantity: 5,
          reason: 'expired',
        },
      },
    ]);
  });

  it('refuses to confirm a reservation that was never made', () => {
    expect(when(given(...SEED), confirm('o9:0'))).toMatchObject({
      kind: 'refusal',
      reason: 'reservation_unknown',
    });
  });
});

describe('ReleaseStock', () => {
  const held = given(...SEED, reserved('o1:0', 'wh-na', 5));

  it('gives a held reservation’s units back', () => {
    const result = decided(when(held, release('o1:0', 'rejected')));
    const data = {
      orderId: 'o1',
      reservationId: 'o1:0',
      sku: SKU,
      warehouseId: 'wh-na',
      quantity: 5,
      reason: 'rejected',
    };
    expect(result.events).toEqual([{ type: 'StockReleased', data }]);
    expect(result.replies).toEqual([{ type: 'inventory.StockReleased', id: 'o1:0:StockReleased', data }]);
    expect(stockLevelChanges(held, result.events)).toEqual([
      { sku: SKU, warehouseId: 'wh-na', onHand: 40, reserved: 0, available: 40, totalAvailable: 75 },
    ]);
  });

  it('gives a confirmed reservation’s units back', () => {
    const confirmed = given(...SEED, reserved('o1:0', 'wh-na', 5), {
      type: 'ReservationConfirmed',
      data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 },
    });
    expect(decided(when(confirmed, release('o1:0'))).events).toMatchObject([
      { type: 'StockReleased', data: { quantity: 5 } },
    ]);
  });

  it('is idempotent: a second release records nothing and answers the first release again', () => {
    const first = decided(when(held, release('o1:0')));
    const after = given(...SEED, reserved('o1:0', 'wh-na', 5), ...first.events);
    const second = decided(when(after, release('o1:0', 'rejected')));
    expect(second.events).toEqual([]);
    expect(second.replies).toEqual(first.replies);
  });

  it('answers a reservation that never existed with nothing released', () => {
    const result = decided(when(given(...SEED), release('o9:0')));
    expect(result.events).toEqual([]);
    expect(result.replies).toEqual([
      {
        type: 'inventory.StockReleased',
        id: 'o9:0:StockReleased',
        data: {
          orderId: 'o9',
          reservationId: 'o9:0',
          sku: SKU,
          warehouseId: null,
          quantity: 0,
          reason: 'cancelled',
        },
      },
    ]);
  });

  it('releases nothing of a committed reservation: its goods left', () => {
    const committed = given(...SEED, reserved('o1:0', 'wh-na', 5), {
      type: 'StockCommitted',
      data: {
        orderId: 'o1',
        reservationId: 'o1:0',
        sku: SKU,
        shipmentId: 's1',
        warehouseId: 'wh-na',
        quantity: 5,
      },
    });
    const result = decided(when(committed, release('o1:0')));
    expect(result.events).toEqual([]);
    expect(result.replies).toMatchObject([
      { type: 'inventory.StockReleased', data: { warehouseId: 'wh-na', quantity: 0 } },
    ]);
  });
});

describe('ExpireReservation', () => {
  const held = given(...SEED, reserved('o1:0', 'wh-na', 5));

  it('releases a held reservation that is due, as expired', () => {
    const result = decided(when(held, expire('o1:0'), new Date(T0.getTime() + TTL)));
    expect(result.events).toMatchObject([
      { type: 'StockReleased', data: { reason: 'expired', quantity: 5, warehouseId: 'wh-na' } },
    ]);
    expect(result.replies).toMatchObject([{ type: 'inventory.StockReleased', id: 'o1:0:StockReleased' }]);
  });

  it('does nothing to a held reservation that is not due, but looks again at its expiry', () => {
    const result = decided(when(held, expire('o1:0'), new Date(T0.getTime() + TTL - 1)));
    expect(result.events).toEqual([]);
    expect(result.replies).toEqual([]);
    expect(result.expire).toEqual({
      orderId: 'o1',
      reservationId: 'o1:0',
      at: '2026-03-01T10:01:00.000Z',
      first: false,
    });
  });

  it('does nothing to a confirmed, released, committed or unknown reservation', () => {
    const late = new Date(T0.getTime() + 10 * TTL);
    const ref1 = { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 };
    const states = [
      given(...SEED, reserved('o1:0', 'wh-na', 5), { type: 'ReservationConfirmed', data: ref1 }),
      given(...SEED, reserved('o1:0', 'wh-na', 5), {
        type: 'StockReleased',
        data: { ...ref1, reason: 'cancelled' },
      }),
      given(...SEED, reserved('o1:0', 'wh-na', 5), {
        type: 'StockCommitted',
        data: { ...ref1, shipmentId: 's1' },
      }),
      given(...SEED),
    ];
    for (const state of states) {
      expect(decided(when(state, expire('o1:0'), late))).toEqual({
        kind: 'decision',
        events: [],
        replies: [],
      });
    }
  });
});

describe('CommitStock', () => {
  const confirmed = given(...SEED, reserved('o1:0', 'wh-na', 5), {
    type: 'ReservationConfirmed',
    data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 },
  });

  it('takes the units out of on-hand and reserved', () => {
    const result = decided(when(confirmed, commit('o1:0', 'ship-7')));
    const data = {
      orderId: 'o1',
      reservationId: 'o1:0',
      sku: SKU,
      shipmentId: 'ship-7',
      warehouseId: 'wh-na',
      quantity: 5,
    };
    expect(result.events).toEqual([{ type: 'StockCommitted', data }]);
    expect(result.replies).toEqual([{ type: 'inventory.StockCommitted', id: 'o1:0:StockCommitted', data }]);
    const after = given(...SEED, reserved('o1:0', 'wh-na', 5), ...result.events);
    expect(inventoryView(SKU, after).warehouses[0]).toEqual({
      warehouseId: 'wh-na',
      vendorId: 'kettle',
      region: 'NA',
      onHand: 35,
      reserved: 0,
      available: 35,
    });
  });

  it('is idempotent: a repeated commit answers the same and records nothing', () => {
    const first = decided(when(confirmed, commit('o1:0', 'ship-7')));
    const after = given(...SEED, reserved('o1:0', 'wh-na', 5), ...first.events);
    const second = decided(when(after, commit('o1:0', 'ship-7')));
    expect(second.events).toEqual([]);
    expect(second.replies).toEqual(first.replies);
  });

  it('refuses to commit a released or unknown reservation', () => {
    const released = given(...SEED, reserved('o1:0', 'wh-na', 5), {
      type: 'StockReleased',
      data: {
        orderId: 'o1',
        reservationId: 'o1:0',
        sku: SKU,
        warehouseId: 'wh-na',
        quantity: 5,
        reason: 'expired',
      },
    });
    expect(when(released, commit('o1:0'))).toMatchObject({ kind: 'refusal', reason: 'reservation_released' });
    expect(when(given(...SEED), commit('o1:0'))).toMatchObject({
      kind: 'refusal',
      reason: 'reservation_unknown',
    });
  });
});

describe('SetStockLevel', () => {
  const set = (warehouseId: string, onHand: number): StockCommand => ({
    type: 'SetStockLevel',
    data: { sku: SKU, warehouseId, vendorId: 'kettle', region: 'NA', onHand, source: 'vendor' },
  });
  const held = given(...SEED, reserved('o1:0', 'wh-na', 5));

  it('sets on-hand, down to the units reserved', () => {
    const result = decided(when(held, set('wh-na', 5)));
    expect(result.events).toMatchObject([
      { type: 'StockLevelSet', data: { warehouseId: 'wh-na', onHand: 5 } },
    ]);
    expect(stockLevelChanges(held, result.events)).toEqual([
      { sku: SKU, warehouseId: 'wh-na', onHand: 5, reserved: 5, available: 0, totalAvailable: 35 },
    ]);
  });

  it('refuses on-hand below the units reserved, saying how many', () => {
    expect(when(held, set('wh-na', 4))).toMatchObject({
      kind: 'refusal',
      reason: 'below_reserved',
      reserved: 5,
    });
  });

  it('records nothing when the count does not change', () => {
    expect(decided(when(held, set('wh-na', 40))).events).toEqual([]);
  });
});

describe('the stock state', () => {
  it('keeps earlier states as they were when later events are folded (the loader’s cache relies on it)', () => {
    const held = given(...SEED, reserved('o1:0', 'wh-na', 5));
    const confirmed = evolveStock(held, {
      type: 'ReservationConfirmed',
      data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 },
      version: held.version + 1,
    });
    // A second load folding the same stored event from the same cached state.
    const again = evolveStock(held, {
      type: 'ReservationConfirmed',
      data: { orderId: 'o1', reservationId: 'o1:0', sku: SKU, warehouseId: 'wh-na', quantity: 5 },
      version: held.version + 1,
    });
    expect(reservationOf(held, 'o1:0')?.status).toBe('held');
    expect(reservationOf(confirmed, 'o1:0')?.status).toBe('confirmed');
    expect(reservationOf(again, 'o1:0')?.status).toBe('confirmed');
    expect(held.warehouses[0]!.reserved).toBe(5);
    // An event already folded changes nothing.
    expect(evolveStock(confirmed, { ...SEED[0]!, version: 0 })).toBe(confirmed);
  });

  it('shows totals and per-warehouse numbers', () => {
    expect(inventoryView(SKU, given(...SEED, reserved('o1:0', 'wh-eu', 5, 'EU')))).toMatchObject({
      sku: SKU,
      onHand: 75,
      reserved: 5,
      available: 70,
      warehouses: [
        { warehouseId: 'wh-na', onHand: 40, reserved: 0, available: 40 },
        { warehouseId: 'wh-eu', onHand: 25, reserved: 5, available: 20 },
        { warehouseId: 'wh-apac', onHand: 10, reserved: 0, available: 10 },
      ],
    });
  });
});
