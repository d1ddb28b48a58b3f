import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, type StockCommand } from './decide.ts';
import { evolveStock, initialStockState, type StockEvent, type StockState } from './stock.ts';

// Property: whatever commands arrive, in whatever order, the stock never goes negative and every
// warehouse's `reserved` is exactly what its live reservations hold.

const SKU = 'SKU-1';
const WAREHOUSES = [
  { warehouseId: 'wh-na', region: 'NA' },
  { warehouseId: 'wh-eu', region: 'EU' },
  { warehouseId: 'wh-apac', region: 'APAC' },
] as const;
const REGIONS = ['NA', 'EU', 'APAC'] as const;
const T0 = Date.parse('2026-03-01T10:00:00.000Z');

const reservationId = fc.integer({ min: 0, max: 7 }).map((n) => `o${n}:0`);
const ref = (id: string) => ({ orderId: id.split(':')[0]!, reservationId: id, sku: SKU });

type Step = { command: StockCommand; advanceMs: number };

const commandArb: fc.Arbitrary<StockCommand> = fc.oneof(
  fc
    .record({
      id: reservationId,
      quantity: fc.integer({ min: 1, max: 8 }),
      region: fc.constantFrom(...REGIONS),
      ttlMs: fc.integer({ min: 1, max: 500 }),
    })
    .map(({ id, quantity, region, ttlMs }) => ({
      type: 'ReserveStock' as const,
      data: { ...ref(id), quantity, region, ttlMs },
    })),
  reservationId.map((id) => ({ type: 'ConfirmReservation' as const, data: ref(id) })),
  fc
    .record({ id: reservationId, reason: fc.constantFrom('cancelled' as const, 'rejected' as const) })
    .map(({ id, reason }) => ({ type: 'ReleaseStock' as const, data: { ...ref(id), reason } })),
  reservationId.map((id) => ({ type: 'ExpireReservation' as const, data: ref(id) })),
  fc.record({ id: reservationId, shipment: fc.integer({ min: 1, max: 3 }) }).map(({ id, shipment }) => ({
    type: 'CommitStock' as const,
    data: { ...ref(id), shipmentId: `s${shipment}` },
  })),
  fc
    .record({ warehouse: fc.constantFrom(...WAREHOUSES), onHand: fc.integer({ min: 0, max: 20 }) })
    .map(({ warehouse, onHand }) => ({
      type: 'SetStockLevel' as const,
      data: { sku: SKU, vendorId: 'v', ...warehouse, onHand, source: 'vendor' as const },
    })),
);

const stepsArb: fc.Arbitrary<Step[]> = fc.array(
  fc.record({ command: commandArb, advanceMs: fc.integer({ min: 0, max: 200 }) }),
  { minLength: 1, maxLength: 150, size: 'max' },
);

function checkInvariants(state: StockState): void {
  const live = new Map<string, number>();
  for (const record of state.reservations.recordsAt(state.version)) {
    if (record.status === 'held' || record.status === 'confirmed') {
      live.set(record.warehouseId, (live.get(record.warehouseId) ?? 0) + record.quantity);
    }
  }
  for (const warehouse of state.warehouses) {
    expect(
      warehouse.onHand - warehouse.reserved,
      `available in ${warehouse.warehouseId}`,
    ).toBeGreaterThanOrEqual(0);
    expect(warehouse.reserved, `reserved in ${warehouse.warehouseId}`).toBe(
      live.get(warehouse.warehouseId) ?? 0,
    );
  }
  for (const warehouseId of live.keys()) {
    expect(state.warehouses.some((w) => w.warehouseId === warehouseId)).toBe(true);
  }
}

describe('stock invariants (property)', () => {
  it('available never goes negative and reserved equals the live reservations, for any command sequence', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 3, maxLength: 3 }),
        stepsArb,
        (seed, steps) => {
          let state = initialStockState();
          let version = -1;
          const fold = (events: readonly StockEvent[]) => {
            for (const event of events) state = evolveStock(state, { ...event, version: ++version });
          };
          fold(
            WAREHOUSES.map((w, i) => ({
              type: 'StockLevelSet' as const,
              data: { sku: SKU, vendorId: 'v', ...w, onHand: seed[i]!, source: 'seed' as const },
            })),
          );
          const facts = new Map<string, number>();
          let now = T0;
          for (const { command, advanceMs } of steps) {
            now += advanceMs;
            const result = decide(state, command, new Date(now));
            if (result.kind === 'refusal') continue;
            fold(result.events);
            // One business fact is one event: no reservation is reserved, released or committed twice.
            for (const event of result.events) {
              if (event.type === 'StockLevelSet') continue;
              const key = `${event.data.reservationId}/${event.type}`;
              facts.set(key, (facts.get(key) ?? 0) + 1);
              expect(facts.get(key), key).toBe(1);
            }
            checkInvariants(state);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
