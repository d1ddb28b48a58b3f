import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALLOCATION_FAILURE_REASONS,
  carrierFor,
  decideAllocate,
  decideCancel,
  decideDeliver,
  decideDispatch,
  groupIntoShipments,
  trackingNumberOf,
  type FulfillmentDecision,
  type RecordedEvent,
} from './decide.ts';
import { evolveFulfillment, INITIAL_FULFILLMENT_STATE, type FulfillmentState } from './fulfillment.ts';
import type { AllocateShipmentsData, ReservedLine } from '../messages.ts';

const ORDER = 'order-1';

function line(
  index: number,
  vendorId: string,
  warehouseId: string,
  region: ReservedLine['warehouseRegion'] = 'EU',
): ReservedLine {
  return {
    reservationId: `${ORDER}:${index}`,
    sku: `SKU-${index}`,
    vendorId,
    warehouseId,
    warehouseRegion: region,
    quantity: index + 1,
  };
}

// Two vendors, three warehouses: northwind ships from two of its warehouses.
const LINES = [
  line(0, 'northwind', 'wh-northwind-eu'),
  line(1, 'kettle', 'wh-kettle-eu'),
  line(2, 'northwind', 'wh-northwind-eu'),
  line(3, 'northwind', 'wh-northwind-na', 'NA'),
];
const ALLOCATE: AllocateShipmentsData = { orderId: ORDER, region: 'EU', lines: LINES };
const NW_EU = `${ORDER}:northwind:wh-northwind-eu`;
const KETTLE_EU = `${ORDER}:kettle:wh-kettle-eu`;
const NW_NA = `${ORDER}:northwind:wh-northwind-na`;

/** Given these decisions' events were recorded… */
function given(...decisions: FulfillmentDecision[]): FulfillmentState {
  return decisions
    .flatMap((decision) => decision.events)
    .reduce<FulfillmentState>((state, event) => evolveFulfillment(state, event), INITIAL_FULFILLMENT_STATE);
}

const types = (events: readonly RecordedEvent[]) => events.map((event) => event.type);

describe('fulfillment decisions', () => {
  describe('AllocateShipments', () => {
    it('splits the lines into one shipment per vendor warehouse, in order of first appearance', () => {
      const decision = decideAllocate(INITIAL_FULFILLMENT_STATE, ALLOCATE);
      expect(types(decision.events)).toEqual(['ShipmentAllocated', 'ShipmentAllocated', 'ShipmentAllocated']);
      expect(decision.events.map((e) => e.data)).toEqual([
        {
          orderId: ORDER,
          shipmentId: NW_EU,
          vendorId: 'northwind',
          warehouseId: 'wh-northwind-eu',
          warehouseRegion: 'EU',
          lines: [LINES[0], LINES[2]],
          shipmentCount: 3,
        },
        {
          orderId: ORDER,
          shipmentId: KETTLE_EU,
          vendorId: 'kettle',
          warehouseId: 'wh-kettle-eu',
          warehouseRegion: 'EU',
          lines: [LINES[1]],
          shipmentCount: 3,
        },
        {
          orderId: ORDER,
          shipmentId: NW_NA,
          vendorId: 'northwind',
          warehouseId: 'wh-northwind-na',
          warehouseRegion: 'NA',
          lines: [LINES[3]],
          shipmentCount: 3,
        },
      ]);
      // Published with the same ids and data; each shipment handed to the carrier.
      expect(decision.replies).toEqual(
        decision.events.map((e) => ({
          type: 'fulfillment.ShipmentAllocated',
          id: `${(e.data as { shipmentId: string }).shipmentId}:ShipmentAllocated`,
          data: e.data,
        })),
      );
      expect(decision.timers).toEqual(
        [NW_EU, KETTLE_EU, NW_NA].map((shipmentId) => ({
          type: 'fulfillment.DispatchShipment',
          id: `${shipmentId}:DispatchShipment`,
          data: { orderId: ORDER, shipmentId },
        })),
      );
    });

    it('keeps every line exactly once, and one shipment per distinct vendor warehouse (property)', () => {
      const lines = fc
        .array(
          fc.record({
            vendor: fc.constantFrom('a', 'b', 'c'),
            warehouse: fc.constantFrom('w1', 'w2'),
            quantity: fc.integer({ min: 1, max: 9 }),
          }),
          { minLength: 1, maxLength: 12 },
        )
        .map((specs) =>
          specs.map((spec, index): ReservedLine => ({
            reservationId: `${ORDER}:${index}`,
            sku: `S${index}`,
            vendorId: spec.vendor,
            warehouseId: `${spec.vendor}-${spec.warehouse}`,
            warehouseRegion: 'NA',
            quantity: spec.quantity,
          })),
        );
      fc.assert(
        fc.property(lines, (generated) => {
          const shipments = groupIntoShipments(ORDER, generated);
          const distinct = new Set(generated.map((l) => `${l.vendorId}/${l.warehouseId}`));
          expect(shipments).toHaveLength(distinct.size);
          expect(shipments.flatMap((s) => s.lines.map((l) => l.reservationId)).sort()).toEqual(
            generated.map((l) => l.reservationId).sort(),
          );
          for (const shipment of shipments) {
            expect(shipment.shipmentCount).toBe(distinct.size);
            expect(
              shipment.lines.every(
                (l) => l.vendorId === shipment.vendorId && l.warehouseId === shipment.warehouseId,
              ),
            ).toBe(true);
          }
        }),
      );
    });

    it('answers a repeated AllocateShipments with the same replies, recording nothing and setting no timer', () => {
      const first = decideAllocate(INITIAL_FULFILLMENT_STATE, ALLOCATE);
      const again = decideAllocate(given(first), ALLOCATE);
      expect(again.events).toEqual([]);
      expect(again.timers).toEqual([]);
      expect(again.replies).toEqual(first.replies);
    });

    it.each([
      ['no lines', [], ALLOCATION_FAILURE_REASONS.noLines],
      ['a reservation twice', [LINES[0]!, LINES[0]!], ALLOCATION_FAILURE_REASONS.duplicateReservation],
      [
        'one warehouse in two regions',
        [line(0, 'kettle', 'wh-kettle-eu', 'EU'), line(1, 'kettle', 'wh-kettle-eu', 'NA')],
        ALLOCATION_FAILURE_REASONS.inconsistentWarehouse,
      ],
    ])('refuses %s with AllocationFailed, once', (_name, lines, reason) => {
      const decision = decideAllocate(INITIAL_FULFILLMENT_STATE, { orderId: ORDER, region: 'EU', lines });
      expect(decision.events).toEqual([
        { type: 'AllocationFailed', id: `${ORDER}:AllocationFailed`, data: { orderId: ORDER, reason } },
      ]);
      expect(decision.replies).toEqual([
        {
          type: 'fulfillment.AllocationFailed',
          id: `${ORDER}:AllocationFailed`,
          data: { orderId: ORDER, reason },
        },
      ]);
      expect(decision.timers).toEqual([]);
      // Asked again (even with good lines), the answer stays the same and nothing is recorded.
      const again = decideAllocate(given(decision), ALLOCATE);
      expect(again.events).toEqual([]);
      expect(again.replies).toEqual(decision.replies);
    });

    it('allocates nothing for an order whose shipments were cancelled before allocation', () => {
      const cancelled = decideCancel(INITIAL_FULFILLMENT_STATE, ORDER);
      expect(cancelled.events.map((e) => e.data)).toEqual([{ orderId: ORDER, shipmentIds: [] }]);
      const late = decideAllocate(given(cancelled), ALLOCATE);
      expect(late.events).toEqual([
        {
          type: 'AllocationFailed',
          id: `${ORDER}:AllocationFailed`,
          data: { orderId: ORDER, reason: 'cancelled' },
        },
      ]);
      expect(late.timers).toEqual([]);
    });
  });

  describe('the carrier: DispatchShipment and DeliverShipment', () => {
    const allocated = decideAllocate(INITIAL_FULFILLMENT_STATE, ALLOCATE);

    it('dispatches an allocated shipment with a deterministic tracking number and its reservations, then schedules delivery', () => {
      const decision = decideDispatch(given(allocated), NW_EU);
      const carrier = carrierFor('EU');
      const dispatched = {
        orderId: ORDER,
        shipmentId: NW_EU,
        vendorId: 'northwind',
        warehouseId: 'wh-northwind-eu',
        carrier: carrier.name,
        trackingNumber: trackingNumberOf(NW_EU, carrier),
        reservationIds: [`${ORDER}:0`, `${ORDER}:2`],
      };
      expect(decision.events).toEqual([
        { type: 'ShipmentDispatched', id: `${NW_EU}:ShipmentDispatched`, data: dispatched },
      ]);
      expect(decision.replies).toEqual([
        { type: 'fulfillment.ShipmentDispatched', id: `${NW_EU}:ShipmentDispatched`, data: dispatched },
      ]);
      expect(decision.timers).toEqual([
        {
          type: 'fulfillment.DeliverShipment',
          id: `${NW_EU}:DeliverShipment`,
          data: { orderId: ORDER, shipmentId: NW_EU },
        },
      ]);
      expect(dispatched.trackingNumber).toMatch(/^SPEU[0-9A-F]{12}$/);
      expect(trackingNumberOf(KETTLE_EU, carrier)).not.toBe(dispatched.trackingNumber);
    });

    it('re-sends the dispatch of a shipment already dispatched, and delivers a dispatched shipment once', () => {
      const dispatched = decideDispatch(given(allocated), NW_EU);
      const again = decideDispatch(given(allocated, dispatched), NW_EU);
      expect(again.events).toEqual([]);
      expect(again.timers).toEqual([]);
      expect(again.replies).toEqual(dispatched.replies);

      const delivered = decideDeliver(given(allocated, dispatched), NW_EU);
      expect(delivered.events).toEqual([
        {
          type: 'ShipmentDelivered',
          id: `${NW_EU}:ShipmentDelivered`,
          data: {
            orderId: ORDER,
            shipmentId: NW_EU,
            trackingNumber: (dispatched.events[0]!.data as { trackingNumber: string }).trackingNumber,
          },
        },
      ]);
      const deliveredAgain = decideDeliver(given(allocated, dispatched, delivered), NW_EU);
      expect(deliveredAgain.events).toEqual([]);
      expect(deliveredAgain.replies).toEqual(delivered.replies);
    });

    it('does nothing for an unknown shipment, and delivers nothing that was not dispatched', () => {
      expect(decideDispatch(given(allocated), `${ORDER}:nobody:nowhere`)).toEqual({
        events: [],
        replies: [],
        timers: [],
      });
      expect(decideDeliver(given(allocated), NW_EU)).toEqual({ events: [], replies: [], timers: [] });
    });
  });

  describe('CancelShipments', () => {
    const allocated = decideAllocate(INITIAL_FULFILLMENT_STATE, ALLOCATE);

    it('cancels every shipment before dispatch; a later dispatch timer then does nothing', () => {
      const cancelled = decideCancel(given(allocated), ORDER);
      expect(cancelled.events).toEqual([
        {
          type: 'ShipmentsCancelled',
          id: `${ORDER}:ShipmentsCancelled`,
          data: { orderId: ORDER, shipmentIds: [NW_EU, KETTLE_EU, NW_NA] },
        },
      ]);
      expect(cancelled.replies.map((r) => r.type)).toEqual(['fulfillment.ShipmentsCancelled']);
      const state = given(allocated, cancelled);
      expect(state.shipments.every((s) => s.status === 'cancelled')).toBe(true);
      expect(decideDispatch(state, NW_EU)).toEqual({ events: [], replies: [], timers: [] });
      // Repeated: the same answer, nothing recorded.
      const again = decideCancel(state, ORDER);
      expect(again.events).toEqual([]);
      expect(again.replies).toEqual(cancelled.replies);
    });

    it('refuses once any shipment was dispatched, cancelling nothing; a repeat gets the same refusal', () => {
      const dispatched = decideDispatch(given(allocated), KETTLE_EU);
      const refused = decideCancel(given(allocated, dispatched), ORDER);
      const refusal = { orderId: ORDER, reason: 'already_dispatched', dispatchedShipmentIds: [KETTLE_EU] };
      expect(refused.events).toEqual([
        { type: 'ShipmentCancellationFailed', id: `${ORDER}:ShipmentCancellationFailed`, data: refusal },
      ]);
      expect(refused.replies).toEqual([
        {
          type: 'fulfillment.ShipmentCancellationFailed',
          id: `${ORDER}:ShipmentCancellationFailed`,
          data: refusal,
        },
      ]);
      const state = given(allocated, dispatched, refused);
      expect(state.shipments.map((s) => s.status)).toEqual(['allocated', 'dispatched', 'allocated']);
      // The other shipments still leave with the carrier.
      expect(types(decideDispatch(state, NW_EU).events)).toEqual(['ShipmentDispatched']);
      const again = decideCancel(state, ORDER);
      expect(again.events).toEqual([]);
      expect(again.replies).toEqual(refused.replies);
    });
  });
});
