import { describe, expect, it } from 'vitest';
import type { OrderPlacedData } from '../../contexts/orders/messages.ts';
import { MessageCatalog } from '../../messaging/index.ts';
import type { SagaDecision, SagaFact } from '../engine/index.ts';
import { SagaTimerFired } from '../engine/index.ts';
import { createSagaHarness, eventTypes, sentTypes } from '../engine/testing/saga-harness.ts';
import { SAGA_MESSAGES } from '../saga-module.ts';
import type { OrderSagaData } from './order-saga-data.ts';
import { ORDER_SAGA_STEPS, orderSagaV1 } from './order-saga.ts';

/*
 * The order saga's paths, Given (the messages it saw) / When (one more) / Then (what it decides).
 * Every command, fact and timer it produces is validated against the real message contracts.
 */

const OPTIONS = { reservationTtlMs: 900_000, stepTimeoutMs: 30_000, paymentMaxAttempts: 3 };
const catalog = new MessageCatalog().register(...SAGA_MESSAGES);
const ID = '0b8d6c52-7c1e-5d1f-9c51-6a3f0e2b7a11';

const TENT = {
  sku: 'NW-TENT-2P',
  vendorId: 'northwind',
  name: 'Trail tent (2 person)',
  quantity: 3,
  unitPrice: 18900,
  lineTotal: 56700,
};
const KETTLE = {
  sku: 'KT-KETTLE-1L',
  vendorId: 'kettle',
  name: 'Camp kettle 1 L',
  quantity: 1,
  unitPrice: 2450,
  lineTotal: 2450,
};

function placed(items = [TENT]): OrderPlacedData {
  return {
    orderId: ID,
    customerId: 'customer-7',
    region: 'EU',
    currency: 'EUR',
    items,
    total: items.reduce((sum, item) => sum + item.lineTotal, 0),
    shippingAddress: {
      name: 'Ada Lovelace',
      line1: '1 Analytical St',
      city: 'London',
      postalCode: 'N1 9GU',
      country: 'GB',
    },
    paymentMethod: { token: 'tok_visa' },
    placedAt: '2025-01-01T10:00:00.000Z',
  };
}

const WAREHOUSE = { northwind: 'wh-northwind-eu', kettle: 'wh-kettle-eu' } as const;
const lineOf = (order: OrderPlacedData, index: number) => order.items[index]!;
const reservationId = (index: number) => `${ID}:${index}`;
const shipmentId = (vendorId: string) => `${ID}:${vendorId}:${WAREHOUSE[vendorId as keyof typeof WAREHOUSE]}`;

const replies = {
  stockReserved: (order: OrderPlacedData, index: number) => {
    const line = lineOf(order, index);
    return {
      orderId: ID,
      reservationId: reservationId(index),
      sku: line.sku,
      vendorId: line.vendorId,
      warehouseId: WAREHOUSE[line.vendorId as keyof typeof WAREHOUSE],
      warehouseRegion: 'EU',
      quantity: line.quantity,
      expiresAt: '2025-01-01T10:15:00.000Z',
    };
  },
  reservationFailed: (order: OrderPlacedData, index: number, available: number) => ({
    orderId: ID,
    reservationId: reservationId(index),
    sku: lineOf(order, index).sku,
    requested: lineOf(order, index).quantity,
    available,
  }),
  stockReleased: (order: OrderPlacedData, index: number, reason: 'cancelled' | 'rejected' | 'expired') => ({
    orderId: ID,
    reservationId: reservationId(index),
    sku: lineOf(order, index).sku,
    warehouseId: WAREHOUSE[lineOf(order, index).vendorId as keyof typeof WAREHOUSE],
    quantity: lineOf(order, index).quantity,
    reason,
  }),
  reservationConfirmed: (order: OrderPlacedData, index: number) => ({
    orderId: ID,
    reservationId: reservationId(index),
    sku: lineOf(order, index).sku,
    warehouseId: WAREHOUSE[lineOf(order, index).vendorId as keyof typeof WAREHOUSE],
    quantity: lineOf(order, index).quantity,
  }),
  fraud: (decision: 'accept' | 'reject') => ({
    orderId: ID,
    score: decision === 'accept' ? 10 : 90,
    decision,
    threshold: 70,
    rules:
      decision === 'accept'
        ? []
        : [{ rule: 'risky_token', points: 90, detail: 'the card is flagged as risky' }],
  }),
  authorized: (order: OrderPlacedData) => ({
    orderId: ID,
    paymentId: `${ID}:payment`,
    authorizationId: 'auth-1',
    amount: order.total,
    currency: 'EUR',
  }),
  declined: { orderId: ID, paymentId: `${ID}:payment`, code: 'card_declined', detail: 'insufficient funds' },
  timedOut: (attempt: number) => ({ orderId: ID, paymentId: `${ID}:payment`, attempt, timeoutMs: 2000 }),
  voided: (order: OrderPlacedData) => ({ orderId: ID, paymentId: `${ID}:payment`, amount: order.total }),
  allocated: (order: OrderPlacedData, vendorId: string, shipmentCount: number) => {
    const indexes = order.items.flatMap((item, index) => (item.vendorId === vendorId ? [index] : []));
    const warehouseId = WAREHOUSE[vendorId as keyof typeof WAREHOUSE];
    return {
      orderId: ID,
      shipmentId: shipmentId(vendorId),
      vendorId,
      warehouseId,
      warehouseRegion: 'EU',
      lines: indexes.map((index) => ({
        reservationId: reservationId(index),
        sku: lineOf(order, index).sku,
        vendorId,
        warehouseId,
        warehouseRegion: 'EU',
        quantity: lineOf(order, index).quantity,
      })),
      shipmentCount,
    };
  },
  dispatched: (order: OrderPlacedData, vendorId: string) => ({
    orderId: ID,
    shipmentId: shipmentId(vendorId),
    vendorId,
    warehouseId: WAREHOUSE[vendorId as keyof typeof WAREHOUSE],
    carrier: 'sim',
    trackingNumber: `TRK-${vendorId}`,
    reservationIds: order.items.flatMap((item, index) =>
      item.vendorId === vendorId ? [reservationId(index)] : [],
    ),
  }),
  delivered: (vendorId: string) => ({
    orderId: ID,
    shipmentId: shipmentId(vendorId),
    trackingNumber: `TRK-${vendorId}`,
  }),
};

/** The order saga, every decision validated against the contracts. */
function orderSaga(order: OrderPlacedData) {
  const saga = createSagaHarness(orderSagaV1(OPTIONS));
  const checked = (decision: SagaDecision<OrderSagaData>) => {
    for (const command of decision.send) catalog.validate(command.type, command.data);
    for (const fact of decision.record) catalog.validate(fact.messageType, fact.data);
    for (const timer of decision.timers) catalog.validate(SagaTimerFired.type, timer.data);
    return decision;
  };
  return {
    saga,
    receive: (type: string, data: unknown, id?: string) => checked(saga.receive(type, data, id)),
    fire: () => checked(saga.fire()),
    start: () => checked(saga.receive('orders.OrderPlaced', order)),
  };
}

/** Given an order whose every line is reserved. */
function reserved(order: OrderPlacedData) {
  const saga = orderSaga(order);
  saga.start();
  order.items.forEach((_item, index) =>
    saga.receive('inventory.StockReserved', replies.stockReserved(order, index)),
  );
  return saga;
}

/** Given an order reserved and fraud-checked: the payment is being authorized. */
function authorizing(order: OrderPlacedData) {
  const saga = reserved(order);
  saga.receive('payments.FraudAssessed', replies.fraud('accept'));
  return saga;
}

/** Given a confirmed order: shipments are being allocated. */
function confirmed(order: OrderPlacedData) {
  const saga = authorizing(order);
  saga.receive('payments.PaymentAuthorized', replies.authorized(order));
  order.items.forEach((_item, index) =>
    saga.receive('inventory.ReservationConfirmed', replies.reservationConfirmed(order, index)),
  );
  return saga;
}

/** Given an order allocated to one shipment per vendor: waiting for the carrier. */
function allocated(order: OrderPlacedData) {
  const saga = confirmed(order);
  const vendors = [...new Set(order.items.map((item) => item.vendorId))];
  for (const vendorId of vendors)
    saga.receive('fulfillment.ShipmentAllocated', replies.allocated(order, vendorId, vendors.length));
  return saga;
}

function recorded(decision: SagaDecision<OrderSagaData>): SagaFact[] {
  return [...decision.record];
}

describe('order saga: happy path', () => {
  it('carries a one-line order from OrderPlaced to OrderDelivered', () => {
    const order = placed();
    const saga = orderSaga(order);

    const start = saga.start();
    expect(eventTypes(start)).toEqual(['SagaStarted']);
    expect(start.send).toEqual([
      {
        type: 'inventory.ReserveStock',
        data: {
          orderId: ID,
          reservationId: `${ID}:0`,
          sku: 'NW-TENT-2P',
          quantity: 3,
          region: 'EU',
          ttlMs: 900_000,
        },
        partitionKey: 'NW-TENT-2P',
      },
    ]);
    expect(start.timers[0]).toMatchObject({
      delayMs: 30_000,
      data: { sagaId: ID, definition: 'order', step: 'reserve-stock' },
    });

    const fraud = saga.receive('inventory.StockReserved', replies.stockReserved(order, 0));
    expect(fraud.send).toEqual([
      {
        type: 'payments.AssessFraud',
        data: {
          orderId: ID,
          customerId: 'customer-7',
          region: 'EU',
          shippingCountry: 'GB',
          amount: 56700,
          currency: 'EUR',
          paymentToken: 'tok_visa',
        },
      },
    ]);

    const authorize = saga.receive('payments.FraudAssessed', replies.fraud('accept'));
    expect(authorize.send).toEqual([
      {
        type: 'payments.AuthorizePayment',
        data: {
          orderId: ID,
          paymentId: `${ID}:payment`,
          amount: 56700,
          currency: 'EUR',
          paymentToken: 'tok_visa',
          attempt: 1,
        },
      },
    ]);

    const confirm = saga.receive('payments.PaymentAuthorized', replies.authorized(order));
    expect(confirm.send).toEqual([
      {
        type: 'inventory.ConfirmReservation',
        data: { orderId: ID, reservationId: `${ID}:0`, sku: 'NW-TENT-2P' },
        partitionKey: 'NW-TENT-2P',
      },
    ]);
    expect(confirm.record).toEqual([]);

    const allocate = saga.receive('inventory.ReservationConfirmed', replies.reservationConfirmed(order, 0));
    expect(recorded(allocate)).toEqual([
      {
        streamId: `order-${ID}`,
        id: `${ID}:OrderConfirmed`,
        type: 'OrderConfirmed',
        messageType: 'orders.OrderConfirmed',
        data: {
          orderId: ID,
          customerId: 'customer-7',
          region: 'EU',
          total: 56700,
          currency: 'EUR',
          items: [TENT],
        },
        metadata: { context: 'orders' },
      },
    ]);
    expect(allocate.send).toEqual([
      {
        type: 'fulfillment.AllocateShipments',
        data: {
          orderId: ID,
          region: 'EU',
          lines: [
            {
              reservationId: `${ID}:0`,
              sku: 'NW-TENT-2P',
              vendorId: 'northwind',
              warehouseId: 'wh-northwind-eu',
              warehouseRegion: 'EU',
              quantity: 3,
            },
          ],
        },
      },
    ]);

    const awaiting = saga.receive('fulfillment.ShipmentAllocated', replies.allocated(order, 'northwind', 1));
    expect(awaiting.events[0]!.data).toMatchObject({
      step: ORDER_SAGA_STEPS.allocate,
      next: ORDER_SAGA_STEPS.deliver,
    });
    // The carrier takes its time: no command, no deadline.
    expect(awaiting.send).toEqual([]);
    expect(awaiting.timers).toEqual([]);

    const dispatched = saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind'));
    expect(dispatched.send).toEqual([
      {
        type: 'inventory.CommitStock',
        data: {
          orderId: ID,
          reservationId: `${ID}:0`,
          sku: 'NW-TENT-2P',
          shipmentId: shipmentId('northwind'),
        },
        partitionKey: 'NW-TENT-2P',
      },
      { type: 'payments.CapturePayment', data: { orderId: ID, paymentId: `${ID}:payment`, amount: 56700 } },
    ]);

    const delivered = saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind'));
    expect(eventTypes(delivered)).toEqual(['StepCompleted', 'SagaCompleted']);
    expect(recorded(delivered)).toEqual([
      expect.objectContaining({
        streamId: `order-${ID}`,
        id: `${ID}:OrderDelivered`,
        type: 'OrderDelivered',
        messageType: 'orders.OrderDelivered',
        data: { orderId: ID, customerId: 'customer-7' },
      }),
    ]);
    expect(saga.saga.state?.status).toBe('completed');
  });

  it('splits a two-vendor order into two shipments, commits each one’s stock and captures once', () => {
    const order = placed([TENT, KETTLE]);
    const saga = orderSaga(order);
    const start = saga.start();
    expect(start.send.map((command) => command.partitionKey)).toEqual(['NW-TENT-2P', 'KT-KETTLE-1L']);
    const first = saga.receive('inventory.StockReserved', replies.stockReserved(order, 1));
    expect(eventTypes(first)).toEqual(['StepProgressed']);
    expect(first.send).toEqual([]);
    saga.receive('inventory.StockReserved', replies.stockReserved(order, 0));
    saga.receive('payments.FraudAssessed', replies.fraud('accept'));
    const confirm = saga.receive('payments.PaymentAuthorized', replies.authorized(order));
    expect(sentTypes(confirm)).toEqual(['inventory.ConfirmReservation', 'inventory.ConfirmReservation']);
    saga.receive('inventory.ReservationConfirmed', replies.reservationConfirmed(order, 0));
    const allocate = saga.receive('inventory.ReservationConfirmed', replies.reservationConfirmed(order, 1));
    expect((allocate.send[0]!.data as { lines: unknown[] }).lines).toHaveLength(2);

    expect(
      eventTypes(saga.receive('fulfillment.ShipmentAllocated', replies.allocated(order, 'northwind', 2))),
    ).toEqual(['StepProgressed']);
    expect(
      eventTypes(saga.receive('fulfillment.ShipmentAllocated', replies.allocated(order, 'kettle', 2))),
    ).toEqual(['StepCompleted']);

    const firstDispatch = saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'kettle'));
    expect(firstDispatch.send).toEqual([
      expect.objectContaining({ type: 'inventory.CommitStock', partitionKey: 'KT-KETTLE-1L' }),
      { type: 'payments.CapturePayment', data: { orderId: ID, paymentId: `${ID}:payment`, amount: 59150 } },
    ]);
    const secondDispatch = saga.receive(
      'fulfillment.ShipmentDispatched',
      replies.dispatched(order, 'northwind'),
    );
    expect(secondDispatch.send).toEqual([
      {
        type: 'inventory.CommitStock',
        data: {
          orderId: ID,
          reservationId: `${ID}:0`,
          sku: 'NW-TENT-2P',
          shipmentId: shipmentId('northwind'),
        },
        partitionKey: 'NW-TENT-2P',
      },
    ]);
    // A repeated dispatch changes nothing.
    expect(
      saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind')),
    ).toMatchObject({
      events: [],
      send: [],
    });

    const one = saga.receive('fulfillment.ShipmentDelivered', replies.delivered('kettle'));
    expect(eventTypes(one)).toEqual(['StepProgressed']);
    expect(one.record).toEqual([]);
    const both = saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind'));
    expect(eventTypes(both)).toEqual(['StepCompleted', 'SagaCompleted']);
    expect(both.record.map((fact) => fact.type)).toEqual(['OrderDelivered']);
  });
  it('waits for a dispatch that a redelivery put behind its delivery, then commits the stock, captures and completes', () => {
    const order = placed([TENT, KETTLE]);
    const saga = allocated(order);
    saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'kettle'));
    saga.receive('fulfillment.ShipmentDelivered', replies.delivered('kettle'));

    // Northwind's delivery overtook its dispatch: every shipment is delivered, yet not complete.
    const early = saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind'));
    expect(eventTypes(early)).toEqual(['StepProgressed']);
    expect(early.record).toEqual([]);

    const late = saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind'));
    expect(late.send).toEqual([
      expect.objectContaining({ type: 'inventory.CommitStock', partitionKey: 'NW-TENT-2P' }),
    ]);
    expect(eventTypes(late)).toEqual(['StepCompleted', 'SagaCompleted']);
    expect(late.record.map((fact) => fact.type)).toEqual(['OrderDelivered']);
  });

  it('captures on a dispatch that arrives after the only delivery', () => {
    const order = placed([TENT]);
    const saga = allocated(order);
    expect(eventTypes(saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind')))).toEqual(
      ['StepProgressed'],
    );
    const late = saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind'));
    expect(sentTypes(late)).toEqual(['inventory.CommitStock', 'payments.CapturePayment']);
    expect(eventTypes(late)).toEqual(['StepCompleted', 'SagaCompleted']);
    // A repeated dispatch after completion changes nothing.
    expect(
      saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind')),
    ).toMatchObject({
      events: [],
      send: [],
    });
  });
});

describe('order saga: rejections', () => {
  it('rejects out_of_stock, releasing the lines already reserved', () => {
    const order = placed([TENT, KETTLE]);
    const saga = orderSaga(order);
    saga.start();
    saga.receive('inventory.StockReserved', replies.stockReserved(order, 1));
    const failed = saga.receive('inventory.StockReservationFailed', replies.reservationFailed(order, 0, 0));
    expect(failed.events[0]).toMatchObject({
      type: 'StepFailed',
      data: {
        reason: 'out_of_stock',
        detail: 'NW-TENT-2P: 3 requested, 0 available',
        compensations: ['reserve-stock'],
      },
    });
    expect(failed.send).toEqual([
      {
        type: 'inventory.ReleaseStock',
        data: { orderId: ID, reservationId: `${ID}:1`, sku: 'KT-KETTLE-1L', reason: 'rejected' },
        partitionKey: 'KT-KETTLE-1L',
      },
    ]);
    expect(failed.record).toEqual([]);

    const released = saga.receive('inventory.StockReleased', replies.stockReleased(order, 1, 'rejected'));
    expect(eventTypes(released)).toEqual(['CompensationCompleted', 'SagaFailed']);
    expect(recorded(released)).toEqual([
      {
        streamId: `order-${ID}`,
        id: `${ID}:OrderRejected`,
        type: 'OrderRejected',
        messageType: 'orders.OrderRejected',
        data: {
          orderId: ID,
          customerId: 'customer-7',
          reason: 'out_of_stock',
          detail: 'NW-TENT-2P: 3 requested, 0 available',
        },
        metadata: { context: 'orders' },
      },
    ]);
  });

  it('rejects a one-line order at once when its only line cannot be reserved (nothing to release)', () => {
    const order = placed();
    const saga = orderSaga(order);
    saga.start();
    const failed = saga.receive('inventory.StockReservationFailed', replies.reservationFailed(order, 0, 1));
    expect(eventTypes(failed)).toEqual(['StepFailed', 'SagaFailed']);
    expect(failed.send).toEqual([]);
    expect(failed.record[0]!.data).toMatchObject({
      reason: 'out_of_stock',
      detail: 'NW-TENT-2P: 3 requested, 1 available',
    });
  });

  it('rejects fraud_suspected, releasing the stock', () => {
    const order = placed();
    const saga = reserved(order);
    const rejected = saga.receive('payments.FraudAssessed', replies.fraud('reject'));
    expect(rejected.events[0]!.data).toMatchObject({
      reason: 'fraud_suspected',
      compensations: ['reserve-stock'],
    });
    expect(sentTypes(rejected)).toEqual(['inventory.ReleaseStock']);
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    expect(done.record[0]).toMatchObject({
      type: 'OrderRejected',
      data: {
        reason: 'fraud_suspected',
        detail: 'fraud score 90 reached the threshold of 70 (risky_token: the card is flagged as risky)',
      },
    });
  });

  it('rejects payment_declined: releases the stock, voids nothing', () => {
    const order = placed();
    const saga = authorizing(order);
    const declined = saga.receive('payments.PaymentDeclined', replies.declined);
    expect(declined.events[0]!.data).toMatchObject({
      reason: 'payment_declined',
      compensations: ['reserve-stock'],
    });
    expect(sentTypes(declined)).toEqual(['inventory.ReleaseStock']);
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    expect(done.record[0]).toMatchObject({
      type: 'OrderRejected',
      data: {
        reason: 'payment_declined',
        detail: 'the payment was declined: insufficient funds (card_declined)',
      },
    });
  });

  it('retries the authorization after PaymentTimedOut (tok_timeout) and goes on when it is authorized', () => {
    const order = placed();
    const saga = authorizing(order);
    const retried = saga.receive('payments.PaymentTimedOut', replies.timedOut(1));
    expect(eventTypes(retried)).toEqual(['StepRetried']);
    expect(retried.send).toEqual([
      expect.objectContaining({
        type: 'payments.AuthorizePayment',
        data: expect.objectContaining({ attempt: 2 }),
      }),
    ]);
    const confirm = saga.receive('payments.PaymentAuthorized', replies.authorized(order));
    expect(sentTypes(confirm)).toEqual(['inventory.ConfirmReservation']);
  });

  it('rejects with timeout after the last authorization attempt, voiding any late hold and releasing the stock', () => {
    const order = placed();
    const saga = authorizing(order);
    saga.receive('payments.PaymentTimedOut', replies.timedOut(1));
    saga.receive('payments.PaymentTimedOut', replies.timedOut(2));
    const failed = saga.receive('payments.PaymentTimedOut', replies.timedOut(3));
    expect(failed.events[0]!.data).toMatchObject({
      reason: 'timeout',
      detail: 'the payment was not authorized: the gateway did not answer in 3 attempts',
      compensations: ['authorize-payment', 'reserve-stock'],
    });
    expect(sentTypes(failed)).toEqual(['payments.VoidPayment']);
    expect(sentTypes(saga.receive('payments.PaymentVoided', replies.voided(order)))).toEqual([
      'inventory.ReleaseStock',
    ]);
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    expect(done.record[0]!.data).toMatchObject({ reason: 'timeout' });
  });

  it('rejects with timeout when a reservation expires before confirmation: voids the payment, releases the rest', () => {
    const order = placed([TENT, KETTLE]);
    const saga = authorizing(order);
    saga.receive('payments.PaymentAuthorized', replies.authorized(order));
    saga.receive('inventory.ReservationConfirmed', replies.reservationConfirmed(order, 1));
    const expired = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'expired'));
    expect(expired.events[0]).toMatchObject({
      type: 'StepFailed',
      data: {
        step: ORDER_SAGA_STEPS.confirm,
        reason: 'timeout',
        detail: 'the reservation of NW-TENT-2P expired before the order was confirmed',
        compensations: ['authorize-payment', 'reserve-stock'],
      },
    });
    expect(sentTypes(expired)).toEqual(['payments.VoidPayment']);
    const release = saga.receive('payments.PaymentVoided', replies.voided(order));
    // The expired line is free already: only the other one is released.
    expect(release.send).toEqual([
      expect.objectContaining({
        type: 'inventory.ReleaseStock',
        data: expect.objectContaining({ reservationId: `${ID}:1` }),
      }),
    ]);
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 1, 'rejected'));
    expect(done.record).toEqual([
      expect.objectContaining({
        type: 'OrderRejected',
        data: expect.objectContaining({ reason: 'timeout' }),
      }),
    ]);
  });

  it('rejects fulfillment_failed when allocation fails: voids the payment, releases the stock', () => {
    const order = placed();
    const saga = confirmed(order);
    const failed = saga.receive('fulfillment.AllocationFailed', { orderId: ID, reason: 'no_carrier' });
    expect(failed.events[0]!.data).toMatchObject({
      reason: 'fulfillment_failed',
      compensations: ['authorize-payment', 'reserve-stock'],
    });
    expect(sentTypes(failed)).toEqual(['payments.VoidPayment']);
    saga.receive('payments.PaymentVoided', replies.voided(order));
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    expect(done.record[0]!.data).toMatchObject({ reason: 'fulfillment_failed' });
  });
});

describe('order saga: cancellation', () => {
  it('cancels before dispatch: cancels shipments, voids the payment, releases the stock, then OrderCancelled', () => {
    const order = placed();
    const saga = allocated(order);
    const cancel = saga.receive('orders.CancelOrder', {
      orderId: ID,
      reason: 'customer_request',
      requestedAt: '2025-01-01T10:05:00.000Z',
    });
    expect(cancel.events[0]!.data).toMatchObject({
      step: ORDER_SAGA_STEPS.deliver,
      reason: 'customer_request',
      compensations: ['allocate-shipments', 'authorize-payment', 'reserve-stock'],
    });
    expect(cancel.send).toEqual([{ type: 'fulfillment.CancelShipments', data: { orderId: ID } }]);
    const voiding = saga.receive('fulfillment.ShipmentsCancelled', {
      orderId: ID,
      shipmentIds: [shipmentId('northwind')],
    });
    expect(voiding.send).toEqual([
      { type: 'payments.VoidPayment', data: { orderId: ID, paymentId: `${ID}:payment` } },
    ]);
    const releasing = saga.receive('payments.PaymentVoided', replies.voided(order));
    expect(releasing.send).toEqual([
      {
        type: 'inventory.ReleaseStock',
        data: { orderId: ID, reservationId: `${ID}:0`, sku: 'NW-TENT-2P', reason: 'cancelled' },
        partitionKey: 'NW-TENT-2P',
      },
    ]);
    const done = saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'cancelled'));
    expect(recorded(done)).toEqual([
      expect.objectContaining({
        id: `${ID}:OrderCancelled`,
        type: 'OrderCancelled',
        messageType: 'orders.OrderCancelled',
        data: {
          orderId: ID,
          customerId: 'customer-7',
          reason: 'customer_request',
          detail: 'cancelled at the customer’s request',
        },
      }),
    ]);
  });

  it('cancels early (during the fraud check) by releasing the stock only', () => {
    const order = placed();
    const saga = reserved(order);
    const cancel = saga.receive('orders.CancelOrder', {
      orderId: ID,
      reason: 'customer_request',
      requestedAt: '2025-01-01T10:05:00.000Z',
    });
    expect(cancel.events[0]!.data).toMatchObject({ compensations: ['reserve-stock'] });
    expect(sentTypes(cancel)).toEqual(['inventory.ReleaseStock']);
  });

  it('refuses a cancellation after a dispatch, and carries on', () => {
    const order = placed();
    const saga = allocated(order);
    saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind'));
    const cancel = saga.receive(
      'orders.CancelOrder',
      { orderId: ID, reason: 'customer_request', requestedAt: '2025-01-01T10:05:00.000Z' },
      `${ID}:CancelOrder`,
    );
    expect(cancel.events).toEqual([]);
    expect(cancel.send).toEqual([]);
    expect(recorded(cancel)).toEqual([
      {
        streamId: `order-${ID}`,
        // One refusal per request: its id names the CancelOrder message.
        id: `${ID}:OrderCancellationRefused:${ID}:CancelOrder`,
        type: 'OrderCancellationRefused',
        messageType: 'orders.OrderCancellationRefused',
        data: {
          orderId: ID,
          reason: 'already_dispatched',
          detail: `the order cannot be cancelled: shipment ${shipmentId('northwind')} was already dispatched`,
        },
        metadata: { context: 'orders' },
      },
    ]);
    expect(eventTypes(saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind')))).toEqual(
      ['StepCompleted', 'SagaCompleted'],
    );
  });

  it('refuses when fulfillment says a shipment already left, and resumes the normal flow', () => {
    const order = placed();
    const saga = allocated(order);
    // The saga has not seen the dispatch yet when the customer cancels.
    saga.receive('orders.CancelOrder', {
      orderId: ID,
      reason: 'customer_request',
      requestedAt: '2025-01-01T10:05:00.000Z',
    });
    const dispatched = saga.receive('fulfillment.ShipmentDispatched', replies.dispatched(order, 'northwind'));
    expect(sentTypes(dispatched)).toEqual(['inventory.CommitStock', 'payments.CapturePayment']);
    const refused = saga.receive('fulfillment.ShipmentCancellationFailed', {
      orderId: ID,
      reason: 'already_dispatched',
      dispatchedShipmentIds: [shipmentId('northwind')],
    });
    expect(eventTypes(refused)).toEqual(['CompensationRefused']);
    expect(refused.send).toEqual([]);
    expect(refused.record).toEqual([
      expect.objectContaining({
        type: 'OrderCancellationRefused',
        data: expect.objectContaining({ reason: 'already_dispatched' }),
      }),
    ]);
    expect(saga.saga.state).toMatchObject({
      status: 'running',
      step: ORDER_SAGA_STEPS.deliver,
      failure: null,
    });
    const delivered = saga.receive('fulfillment.ShipmentDelivered', replies.delivered('northwind'));
    expect(delivered.record.map((fact) => fact.type)).toEqual(['OrderDelivered']);
  });

  it('refuses a cancellation once the order ended, or while it is being rejected', () => {
    const order = placed();
    const saga = authorizing(order);
    saga.receive('payments.PaymentDeclined', replies.declined);
    const ending = saga.receive('orders.CancelOrder', {
      orderId: ID,
      reason: 'customer_request',
      requestedAt: '2025-01-01T10:05:00.000Z',
    });
    expect(ending.events).toEqual([]);
    expect(ending.record[0]!.data).toMatchObject({ reason: 'order_ending' });
    saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    const ended = saga.receive('orders.CancelOrder', {
      orderId: ID,
      reason: 'customer_request',
      requestedAt: '2025-01-01T10:06:00.000Z',
    });
    expect(ended.record[0]!.data).toMatchObject({
      reason: 'order_ended',
      detail: 'the order cannot be cancelled: it was already rejected',
    });
  });
});

describe('order saga: late and repeated replies', () => {
  it('releases a reservation that arrives after the order was rejected', () => {
    const order = placed();
    const saga = orderSaga(order);
    saga.start();
    saga.fire();
    saga.fire(); // no answer from inventory twice: rejected (timeout), release sent
    saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    expect(saga.saga.state?.status).toBe('failed');
    const late = saga.receive('inventory.StockReserved', replies.stockReserved(order, 0));
    expect(late.events).toEqual([]);
    expect(late.send).toEqual([
      {
        type: 'inventory.ReleaseStock',
        data: { orderId: ID, reservationId: `${ID}:0`, sku: 'NW-TENT-2P', reason: 'rejected' },
        partitionKey: 'NW-TENT-2P',
      },
    ]);
  });

  it('voids an authorization that arrives after the order was rejected', () => {
    const order = placed();
    const saga = authorizing(order);
    saga.receive('payments.PaymentDeclined', replies.declined);
    saga.receive('inventory.StockReleased', replies.stockReleased(order, 0, 'rejected'));
    const late = saga.receive('payments.PaymentAuthorized', replies.authorized(order));
    expect(late.send).toEqual([
      { type: 'payments.VoidPayment', data: { orderId: ID, paymentId: `${ID}:payment` } },
    ]);
  });

  it('changes nothing on repeated replies', () => {
    const order = placed([TENT, KETTLE]);
    const saga = orderSaga(order);
    saga.start();
    saga.receive('inventory.StockReserved', replies.stockReserved(order, 0));
    expect(saga.receive('inventory.StockReserved', replies.stockReserved(order, 0))).toMatchObject({
      events: [],
      send: [],
    });
    const saga2 = confirmed(placed());
    expect(saga2.receive('payments.PaymentAuthorized', replies.authorized(placed()))).toMatchObject({
      events: [],
      send: [],
    });
  });

  it('ignores a stale step timer', () => {
    const order = placed();
    const saga = orderSaga(order);
    saga.start();
    const reserveTimer = saga.saga.lastTimer;
    saga.receive('inventory.StockReserved', replies.stockReserved(order, 0));
    expect(saga.saga.fire(reserveTimer)).toMatchObject({ events: [], send: [], timers: [] });
  });
});
