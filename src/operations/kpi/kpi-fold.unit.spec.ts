import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventStore, StoredEvent } from '../../event-store/index.ts';
import type { DeadLetterStore } from '../../messaging/index.ts';
import {
  ALLOCATION_FAILED,
  SHIPMENT_ALLOCATED,
  SHIPMENT_DELIVERED,
  SHIPMENT_DISPATCHED,
  SHIPMENTS_CANCELLED,
} from '../../contexts/fulfillment/domain/fulfillment.ts';
import { PAYMENT_EVENT_TYPES } from '../../contexts/payments/domain/payment.ts';
import { KPI_EVENTS } from './kpi-events.ts';
import { createKpiProjection } from './kpi-projection.ts';
import { ordersAtRiskOf, revenueAtRiskOf, snapshotOf, type StageObjectives } from './kpi-snapshot.ts';
import { createKpiState, evolveKpi, type StageEnd } from './kpi-state.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const OBJECTIVES: StageObjectives = {
  placedToConfirmedMs: 60_000,
  confirmedToShippedMs: 3_600_000,
  placedToDeliveredMs: 86_400_000,
};

/** A scripted history: events with increasing positions, times in seconds after T0. */
function history() {
  const events: StoredEvent[] = [];
  const push = (streamId: string, type: string, data: unknown, atSeconds: number) =>
    events.push({
      id: `e${events.length}`,
      streamId,
      version: 0,
      position: events.length * 2 + 1, // gaps, as PostgreSQL sequences leave
      type,
      data,
      metadata: {},
      time: new Date(T0 + atSeconds * 1000).toISOString(),
    });
  const place = (orderId: string, region: string, currency: string, total: number, at: number) => {
    push(
      `order-${orderId}`,
      'OrderPlaced',
      {
        orderId,
        region,
        currency,
        total,
        items: [{ vendorId: 'v1' }, { vendorId: 'v2' }, { vendorId: 'v1' }],
      },
      at,
    );
    push(`saga-order-${orderId}`, 'SagaStarted', { sagaId: orderId }, at);
  };
  return { events, push, place };
}

/** Three orders: a delivered one (two shipments), a declined one, and a pending one. */
function scripted(): StoredEvent[] {
  const { events, push, place } = history();
  place('a', 'EU', 'EUR', 12_345, 0);
  place('b', 'NA', 'USD', 5_000, 1);
  place('c', 'NA', 'USD', 700, 2);
  push('payment-a', 'PaymentGatewayUnavailable', { orderId: 'a' }, 3);
  push('payment-a', 'PaymentAuthorized', { orderId: 'a', amount: 12_345, currency: 'EUR' }, 4);
  push('payment-b', 'PaymentTimedOut', { orderId: 'b' }, 4);
  push('payment-b', 'PaymentDeclined', { orderId: 'b' }, 5);
  push('order-a', 'OrderConfirmed', { orderId: 'a' }, 10);
  push('order-b', 'OrderRejected', { orderId: 'b', reason: 'payment_declined' }, 6);
  push('saga-order-b', 'StepFailed', {}, 6);
  push('saga-order-b', 'SagaFailed', {}, 7);
  push('fulfillment-a', 'ShipmentAllocated', { orderId: 'a', shipmentId: 's1' }, 11);
  push('fulfillment-a', 'ShipmentAllocated', { orderId: 'a', shipmentId: 's2' }, 11);
  push('fulfillment-a', 'ShipmentDispatched', { orderId: 'a', shipmentId: 's1' }, 20);
  push('payment-a', 'PaymentCaptured', { orderId: 'a', amount: 12_345, currency: 'EUR' }, 20);
  push('fulfillment-a', 'ShipmentDispatched', { orderId: 'a', shipmentId: 's2' }, 40);
  push('fulfillment-a', 'ShipmentDelivered', { orderId: 'a', shipmentId: 's1' }, 50);
  push('fulfillment-a', 'ShipmentDelivered', { orderId: 'a', shipmentId: 's2' }, 100);
  push('order-a', 'OrderDelivered', { orderId: 'a' }, 100);
  push('saga-order-a', 'SagaCompleted', {}, 100);
  // A second delivery notice changes nothing (each order once per status and stage).
  push('order-a', 'OrderDelivered', { orderId: 'a' }, 101);
  return events;
}

function fold(events: readonly StoredEvent[]) {
  const ends: StageEnd[] = [];
  const state = createKpiState(T0 + 1000);
  for (const event of events) evolveKpi(state, event, (end) => ends.push(end));
  return { state, ends };
}

describe('the KPI fold', () => {
  it('counts each order once per status, the ended ones by reason, revenue and authorizations', () => {
    const { state, ends } = fold(scripted());
    const snapshot = snapshotOf(state);
    expect(snapshot.orders).toEqual([
      { region: 'EU', status: 'confirmed', count: 1 },
      { region: 'EU', status: 'delivered', count: 1 },
      { region: 'EU', status: 'partially_shipped', count: 1 },
      { region: 'EU', status: 'pending', count: 1 },
      { region: 'EU', status: 'shipped', count: 1 },
      { region: 'NA', status: 'pending', count: 2 },
      { region: 'NA', status: 'rejected', count: 1 },
    ]);
    expect(snapshot.ended).toEqual([
      { region: 'NA', status: 'rejected', reason: 'payment_declined', count: 1 },
    ]);
    expect(snapshot.revenue).toEqual([{ region: 'EU', currency: 'EUR', amount: 123.45 }]);
    expect(snapshot.authorizations).toEqual([
      { region: 'EU', outcome: 'approved', count: 1 },
      { region: 'EU', outcome: 'unavailable', count: 1 },
      { region: 'NA', outcome: 'declined', count: 1 },
      { region: 'NA', outcome: 'timed_out', count: 1 },
    ]);
    expect(ends).toEqual([
      { stage: 'placed_to_confirmed', seconds: 10 },
      { stage: 'confirmed_to_shipped', seconds: 30 },
      { stage: 'placed_to_delivered', seconds: 100 },
    ]);
    expect(snapshot.stages).toEqual({
      placed_to_confirmed: { count: 1, sumSeconds: 10 },
      confirmed_to_shipped: { count: 1, sumSeconds: 30 },
      placed_to_delivered: { count: 1, sumSeconds: 100 },
    });
    // c runs; a completed, b failed.
    expect(snapshot.sagas).toEqual({ running: 1, needs_attention: 0 });
    // Placed at or after T0 + 1 s: b and c.
    expect(snapshot.placedSinceStart).toEqual([{ region: 'NA', count: 2 }]);
    expect(snapshot.position).toBe(scripted().at(-1)!.position);
  });

  it('revenue at risk: a late pending order counts, an ended one does not, a parked saga does', () => {
    const { events, push, place } = history();
    place('late', 'NA', 'USD', 1_999, 0);
    place('fresh', 'NA', 'USD', 500, 100);
    place('done', 'EU', 'EUR', 800, 0);
    push('order-done', 'OrderCancelled', { orderId: 'done', reason: 'customer_request' }, 5);
    place('parked', 'EU', 'EUR', 2_500, 100);
    push('order-parked', 'OrderConfirmed', { orderId: 'parked' }, 101);
    push('saga-order-parked', 'SagaNeedsAttention', { step: 'x', attempts: 3, reason: 'r' }, 102);
    const { state } = fold(events);
    const atRisk = ordersAtRiskOf(state, {
      now: T0 + 120_000,
      objectives: OBJECTIVES,
      deadLettered: new Set(['fresh']),
    });
    expect(atRisk).toEqual([
      {
        orderId: 'late',
        region: 'NA',
        currency: 'USD',
        amount: 19.99,
        vendors: ['v1', 'v2'],
        since: new Date(T0).toISOString(),
        reasons: ['late'],
        stage: 'pending',
      },
      expect.objectContaining({ orderId: 'fresh', reasons: ['dead_letter'], stage: 'pending' }),
      expect.objectContaining({ orderId: 'parked', amount: 25, reasons: ['parked'], stage: 'confirmed' }),
    ]);
    expect(revenueAtRiskOf(state, atRisk)).toEqual([
      { region: 'EU', currency: 'EUR', amount: 25 },
      { region: 'NA', currency: 'USD', amount: 24.99 },
    ]);
    expect(snapshotOf(state).sagas).toEqual({ running: 3, needs_attention: 1 });
    // Before any objective passed and without dead letters: only the parked saga, and 0 elsewhere.
    const early = ordersAtRiskOf(state, {
      now: T0 + 30_000,
      objectives: OBJECTIVES,
      deadLettered: new Set(),
    });
    expect(revenueAtRiskOf(state, early)).toEqual([
      { region: 'EU', currency: 'EUR', amount: 25 },
      { region: 'NA', currency: 'USD', amount: 0 },
    ]);
  });

  it('a confirmed order is late once confirmedToShipped passes, and any once placedToDelivered passes', () => {
    const { events, push, place } = history();
    place('a', 'NA', 'USD', 100, 0);
    push('order-a', 'OrderConfirmed', { orderId: 'a' }, 10);
    const { state } = fold(events);
    const at = (seconds: number) =>
      ordersAtRiskOf(state, { now: T0 + seconds * 1000, objectives: OBJECTIVES, deadLettered: new Set() });
    expect(at(3_610)).toEqual([]);
    expect(at(3_611)).toHaveLength(1);
    expect(at(86_401)).toHaveLength(1);
  });

  it("reads stored event names that are the contexts' own", () => {
    expect(KPI_EVENTS).toMatchObject({
      shipmentAllocated: SHIPMENT_ALLOCATED,
      shipmentDispatched: SHIPMENT_DISPATCHED,
      shipmentDelivered: SHIPMENT_DELIVERED,
      shipmentsCancelled: SHIPMENTS_CANCELLED,
      paymentAuthorized: PAYMENT_EVENT_TYPES.PaymentAuthorized,
      paymentDeclined: PAYMENT_EVENT_TYPES.PaymentDeclined,
      paymentTimedOut: PAYMENT_EVENT_TYPES.PaymentTimedOut,
      paymentCaptured: PAYMENT_EVENT_TYPES.PaymentCaptured,
    });
    expect(ALLOCATION_FAILED).toBe('AllocationFailed');
  });
});

/** The store port as far as the projection reads it, over a fixed list of events. */
function fakeStore(events: readonly StoredEvent[]): EventStore {
  return {
    async readAll({ after = -1, maxCount = 1000, types } = {}) {
      return events
        .filter((e) => e.position > after && (types === undefined || types.includes(e.type)))
        .slice(0, maxCount);
    },
    async headPosition() {
      return events.at(-1)?.position ?? -1;
    },
    onEventsCommitted: () => () => undefined,
  } as Partial<EventStore> as EventStore;
}

const NO_DEAD_LETTERS = {
  count: async () => 0,
  list: async () => [],
} as Partial<DeadLetterStore> as DeadLetterStore;

describe('the KPI projection', () => {
  it('gives the same snapshot and stage ends whatever the page size', async () => {
    const events = [
      ...scripted(),
      // Events the projection does not read, between its own.
      ...[1, 2, 3].map((n) => ({
        ...scripted()[0]!,
        id: `x${n}`,
        type: 'StockReserved',
        position: 1000 + n,
      })),
    ];
    const expected = fold(events);
    const run = async (pageSize: number) => {
      const projection = createKpiProjection({
        store: fakeStore(events),
        deadLetters: NO_DEAD_LETTERS,
        objectives: OBJECTIVES,
        now: () => new Date(T0 + 1000),
        pageSize,
      });
      const ends: StageEnd[] = [];
      projection.onStageEnd((end) => ends.push(end));
      await projection.start();
      const snapshot = projection.snapshot();
      await projection.stop();
      return { snapshot, ends };
    };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: events.length + 2 }), async (pageSize) => {
        const { snapshot, ends } = await run(pageSize);
        expect(snapshot).toEqual(snapshotOf(expected.state));
        expect(ends).toEqual(expected.ends);
      }),
      { numRuns: 40 },
    );
  });

  it('replays the stage ends already folded to a listener that comes late', async () => {
    const projection = createKpiProjection({
      store: fakeStore(scripted()),
      deadLetters: NO_DEAD_LETTERS,
      objectives: OBJECTIVES,
    });
    await projection.start();
    const ends: StageEnd[] = [];
    projection.onStageEnd((end) => ends.push(end));
    await projection.stop();
    expect(ends).toEqual(fold(scripted()).ends);
  });
});
