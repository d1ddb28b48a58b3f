import { describe, expect, it } from 'vitest';
import { orderBody } from '../../../../test/support/orders.ts';
import { MessageCatalog } from '../../../messaging/index.ts';
import { ValidationError } from '../../../kernel/errors.ts';
import { catalogFromEvents } from '../../catalog/index.ts';
import { ORDER_MESSAGES, OrderPlaced } from '../messages.ts';
import { evolve, foldOrder, orderStreamId } from './order.ts';
import { placeOrder } from './place-order.ts';

const catalog = catalogFromEvents([
  {
    type: 'ProductListed',
    data: { sku: 'MUG', vendorId: 'kettle', name: 'Mug', unitPrice: 1250, currency: 'USD' },
  },
]);
const ORDER_ID = '0b7f3c0e-2b8a-5f4e-8c1d-9e3a2b1c0d4f';

function placed() {
  const result = placeOrder(
    orderBody({ customerId: 'cust-9', region: 'APAC', items: [{ sku: 'MUG', quantity: 2 }] }),
    { catalog, orderId: ORDER_ID, now: new Date('2026-01-02T03:04:05.000Z') },
  );
  if (result instanceof ValidationError) throw result;
  return result;
}

describe('order state', () => {
  it('is pending after OrderPlaced, with the decision time and the request hash', () => {
    const event = placed();
    const order = evolve(undefined, { ...event, metadata: { correlationId: ORDER_ID, requestHash: 'abc' } });
    expect(order).toEqual({
      id: ORDER_ID,
      status: 'pending',
      region: 'APAC',
      customerId: 'cust-9',
      currency: 'USD',
      total: 2500,
      items: event.data.items,
      shipments: [],
      createdAt: '2026-01-02T03:04:05.000Z',
      updatedAt: '2026-01-02T03:04:05.000Z',
      requestHash: 'abc',
      cancellationRequested: false,
    });
  });

  it('does not exist before its first event', () => {
    expect(foldOrder([])).toBeUndefined();
    expect(
      evolve(undefined, { type: 'SomethingLater', data: {}, time: '2026-01-02T03:04:06.000Z' }),
    ).toBeUndefined();
  });

  it('leaves the view (updatedAt included) for events it does not show', () => {
    const order = foldOrder([placed(), { type: 'SagaStarted', data: {}, time: '2026-01-02T03:04:09.000Z' }]);
    expect(order?.status).toBe('pending');
    expect(order?.updatedAt).toBe('2026-01-02T03:04:05.000Z');
  });

  it('follows the lifecycle with split shipments: confirmed → partially_shipped → shipped → delivered', () => {
    const at = (s: number) => `2026-01-02T03:05:${String(s).padStart(2, '0')}.000Z`;
    const shipment = (shipmentId: string, warehouseId: string) => ({
      type: 'ShipmentAllocated',
      data: { shipmentId, vendorId: 'kettle', warehouseId, lines: [{ sku: 'MUG', quantity: 1 }] },
      time: at(2),
    });
    const steps = [
      { event: { type: 'OrderConfirmed', data: {}, time: at(1) }, status: 'confirmed' },
      { event: shipment('s1', 'wh-a'), status: 'confirmed' },
      { event: shipment('s2', 'wh-b'), status: 'confirmed' },
      {
        event: { type: 'ShipmentDispatched', data: { shipmentId: 's1', trackingNumber: 'T1' }, time: at(3) },
        status: 'partially_shipped',
      },
      {
        event: { type: 'ShipmentDispatched', data: { shipmentId: 's2', trackingNumber: 'T2' }, time: at(4) },
        status: 'shipped',
      },
      { event: { type: 'ShipmentDelivered', data: { shipmentId: 's1' }, time: at(5) }, status: 'shipped' },
      { event: { type: 'OrderDelivered', data: {}, time: at(6) }, status: 'delivered' },
    ];
    let order = evolve(undefined, placed());
    for (const step of steps) {
      order = evolve(order, step.event);
      expect(order?.status).toBe(step.status);
    }
    expect(order?.shipments.map((s) => [s.shipmentId, s.status, s.trackingNumber])).toEqual([
      ['s1', 'delivered', 'T1'],
      ['s2', 'dispatched', 'T2'],
    ]);
    expect(order?.updatedAt).toBe(at(6));
  });

  it('ends rejected or cancelled with the reason, and tracks a pending cancellation', () => {
    const rejected = foldOrder([placed(), { type: 'OrderRejected', data: { reason: 'out_of_stock' } }]);
    expect([rejected?.status, rejected?.reason]).toEqual(['rejected', 'out_of_stock']);
    const requested = foldOrder([placed(), { type: 'OrderCancellationRequested', data: {} }]);
    expect(requested?.cancellationRequested).toBe(true);
    const cancelled = foldOrder([
      placed(),
      { type: 'OrderCancellationRequested', data: {} },
      { type: 'OrderCancelled', data: { reason: 'customer_request' } },
    ]);
    expect([cancelled?.status, cancelled?.reason, cancelled?.cancellationRequested]).toEqual([
      'cancelled',
      'customer_request',
      false,
    ]);
  });

  it('lives in the stream order-<id>', () => {
    expect(orderStreamId(ORDER_ID)).toBe(`order-${ORDER_ID}`);
  });
});

describe('orders.OrderPlaced message', () => {
  const messages = new MessageCatalog().register(...ORDER_MESSAGES);

  it('is an event in the orders context', () => {
    expect(OrderPlaced.type).toBe('orders.OrderPlaced');
    expect(OrderPlaced.kind).toBe('event');
  });

  it('accepts what placeOrder decides (the schema and the decision agree)', () => {
    expect(() => messages.validate(OrderPlaced.type, placed().data)).not.toThrow();
  });

  it('refuses data without a total', () => {
    const { total: _total, ...rest } = placed().data;
    expect(() => messages.validate(OrderPlaced.type, rest)).toThrow(/total/);
  });
});
