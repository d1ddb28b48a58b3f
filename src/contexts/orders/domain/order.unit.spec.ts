import { describe, expect, it } from 'vitest';
import { MessageCatalog } from '../../../messaging/index.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { catalogFromEvents } from '../../catalog/index.ts';
import { ORDER_MESSAGES, OrderPlaced } from './events.ts';
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
    {
      customerId: 'cust-9',
      region: 'APAC',
      currency: 'USD',
      items: [{ sku: 'MUG', quantity: 2 }],
      shippingAddress: {
        name: 'Grace Hopper',
        line1: '2 Compiler Rd',
        city: 'Sydney',
        postalCode: '2000',
        country: 'AU',
      },
      paymentMethod: { token: 'tok_visa.4242' },
    },
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
    });
  });

  it('does not exist before its first event', () => {
    expect(foldOrder([])).toBeUndefined();
    expect(
      evolve(undefined, { type: 'SomethingLater', data: {}, time: '2026-01-02T03:04:06.000Z' }),
    ).toBeUndefined();
  });

  it('moves updatedAt with later events it does not know yet', () => {
    const order = foldOrder([
      placed(),
      { type: 'SomethingLater', data: {}, time: '2026-01-02T03:04:09.000Z' },
    ]);
    expect(order?.status).toBe('pending');
    expect(order?.createdAt).toBe('2026-01-02T03:04:05.000Z');
    expect(order?.updatedAt).toBe('2026-01-02T03:04:09.000Z');
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
