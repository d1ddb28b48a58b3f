import { describe, expect, it } from 'vitest';
import { orderBody } from '../../../../test/support/orders.ts';
import { ValidationError } from '../../../kernel/errors.ts';
import { catalogFromEvents, type CatalogLookup } from '../../catalog/index.ts';
import { placeOrder, type PlaceOrder } from './place-order.ts';

// Given a catalog
const catalog: CatalogLookup = catalogFromEvents(
  [
    { sku: 'MUG', vendorId: 'kettle', name: 'Mug', unitPrice: 1250, currency: 'USD' },
    { sku: 'KETTLE', vendorId: 'kettle', name: 'Kettle', unitPrice: 6999, currency: 'USD' },
    { sku: 'TEA-EUR', vendorId: 'leaf', name: 'Tea', unitPrice: 800, currency: 'EUR' },
  ].map((data) => ({ type: 'ProductListed', data })),
);
const ORDER_ID = '4f6c2b1e-8d43-5a1b-9a77-0c2d5e8f1a23';
const NOW = new Date('2026-03-01T12:00:00.000Z');

/** The order fixture (EU, USD, Ada Lovelace's address, tok_visa) with this catalog's items. */
function command(overrides: Partial<PlaceOrder> = {}): PlaceOrder {
  return orderBody({
    customerId: 'cust-1',
    items: [
      { sku: 'MUG', quantity: 3 },
      { sku: 'KETTLE', quantity: 1 },
    ],
    ...overrides,
  });
}

function whenPlaced(cmd: PlaceOrder) {
  return placeOrder(cmd, { catalog, orderId: ORDER_ID, now: NOW });
}

function thenRejectedWith(cmd: PlaceOrder): { pointer: string; detail: string }[] {
  const result = whenPlaced(cmd);
  expect(result).toBeInstanceOf(ValidationError);
  return [...(result as ValidationError).errors];
}

describe('placeOrder', () => {
  it('places a valid order with the catalog prices and total', () => {
    const result = whenPlaced(command());
    expect(result).not.toBeInstanceOf(ValidationError);
    expect(result).toEqual({
      type: 'OrderPlaced',
      data: {
        orderId: ORDER_ID,
        customerId: 'cust-1',
        region: 'EU',
        currency: 'USD',
        items: [
          { sku: 'MUG', vendorId: 'kettle', name: 'Mug', quantity: 3, unitPrice: 1250, lineTotal: 3750 },
          {
            sku: 'KETTLE',
            vendorId: 'kettle',
            name: 'Kettle',
            quantity: 1,
            unitPrice: 6999,
            lineTotal: 6999,
          },
        ],
        total: 10749,
        shippingAddress: {
          name: 'Ada Lovelace',
          line1: '1 Analytical St',
          city: 'London',
          postalCode: 'N1 9GU',
          country: 'GB',
        },
        paymentMethod: { token: 'tok_visa' },
        placedAt: '2026-03-01T12:00:00.000Z',
      },
    });
  });

  it('never takes a price from the client', () => {
    const withPrice = command({
      items: [{ sku: 'MUG', quantity: 1, price: 1 } as PlaceOrder['items'][number]],
    });
    const result = whenPlaced(withPrice);
    expect(result).not.toBeInstanceOf(ValidationError);
    if (result instanceof ValidationError) return;
    expect(result.data.items[0]).not.toHaveProperty('price');
    expect(result.data.items[0]!.unitPrice).toBe(1250);
    expect(result.data.total).toBe(1250);
  });

  it('rejects an unknown SKU with the pointer of its line', () => {
    expect(
      thenRejectedWith(
        command({
          items: [
            { sku: 'MUG', quantity: 1 },
            { sku: 'NOPE', quantity: 2 },
          ],
        }),
      ),
    ).toEqual([{ pointer: '/items/1/sku', detail: expect.stringContaining('unknown SKU "NOPE"') as string }]);
  });

  it('rejects a SKU that appears on two lines, pointing at the second', () => {
    const errors = thenRejectedWith(
      command({
        items: [
          { sku: 'MUG', quantity: 1 },
          { sku: 'KETTLE', quantity: 1 },
          { sku: 'MUG', quantity: 4 },
        ],
      }),
    );
    expect(errors).toEqual([
      { pointer: '/items/2/sku', detail: expect.stringContaining('duplicates /items/0/sku') as string },
    ]);
  });

  it('rejects a currency that is not the one the items are priced in', () => {
    expect(thenRejectedWith(command({ currency: 'EUR' }))).toEqual([
      { pointer: '/currency', detail: 'must be USD, the currency the items are priced in' },
    ]);
  });

  it('rejects items priced in another currency than the rest of the order, line by line', () => {
    const errors = thenRejectedWith(
      command({
        items: [
          { sku: 'MUG', quantity: 1 },
          { sku: 'TEA-EUR', quantity: 1 },
        ],
      }),
    );
    expect(errors).toEqual([
      { pointer: '/items/1/sku', detail: expect.stringContaining('priced in EUR') as string },
    ]);
  });

  it('reports every problem at once, in pointer order', () => {
    const errors = thenRejectedWith(
      command({
        currency: 'EUR',
        items: [
          { sku: 'GHOST', quantity: 1 },
          { sku: 'MUG', quantity: 1 },
          { sku: 'GHOST', quantity: 1 },
          { sku: 'MUG', quantity: 2 },
        ],
      }),
    );
    expect(errors.map((e) => e.pointer)).toEqual([
      '/currency',
      '/items/0/sku',
      '/items/2/sku',
      '/items/3/sku',
    ]);
  });

  it('names the problems in the error message too', () => {
    const result = whenPlaced(command({ items: [{ sku: 'NOPE', quantity: 1 }] }));
    expect((result as ValidationError).message).toContain('/items/0/sku');
    expect((result as ValidationError).code).toBe('VALIDATION_FAILED');
  });
});
